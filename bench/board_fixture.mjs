#!/usr/bin/env node
// A large whiteboard for bench/board.py: 10,000 shapes (rect, ellipse, sticky, line, arrow,
// text and freehand strokes) with 100,000 freehand stroke points in all, spread over a
// 20,000 x 20,000 area, each shape with a distinct fractional `index` (paint order shuffled
// against insertion order). Deterministic (seeded PRNG). Schema: docs/whiteboard.md.
//
//   node bench/board_fixture.mjs [out-file]
// With a file: the 20 transactions' updates (500 shapes each), each as a 4-byte big-endian
// length + bytes. Without: Y.encodeStateAsUpdate of the whole board, base64, on stdout.
import { writeFileSync } from 'node:fs'
import * as Y from 'yjs'

export const SHAPES = 10_000
export const FREEHAND = 2_000
export const POINTS_PER_STROKE = 50 // 2,000 x 50 = 100,000 stroke points
const AREA = 20_000

// mulberry32
let seed = 0x5eed1234
function random () {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1))
const COLOURS = ['#1e1e1e', '#e03131', '#2f9e44', '#1971c2', '#f08c00', '#6741d9', '#0c8599']
const colour = () => COLOURS[int(0, COLOURS.length - 1)]

// Distinct fractional indexes: 'a' + 4 base-36 digits (string order = numeric order), shuffled.
const indexes = Array.from({ length: SHAPES }, (_, i) => 'a' + (i * 7 + 11).toString(36).padStart(4, '0'))
for (let i = indexes.length - 1; i > 0; i--) {
  const j = int(0, i);
  [indexes[i], indexes[j]] = [indexes[j], indexes[i]]
}

const doc = new Y.Doc()
doc.clientID = 4242
const shapes = doc.getMap('shapes')
const OTHER = ['rect', 'ellipse', 'sticky', 'line', 'arrow', 'text']
let points = 0

const updates = []
doc.on('update', (u) => updates.push(u))
const BATCH = 500 // shapes per transaction, so each update is a modest frame (~180 KB)
for (let b = 0; b < SHAPES; b += BATCH) doc.transact(() => {
  for (let i = b; i < b + BATCH; i++) {
    const type = i % 5 === 0 ? 'freehand' : OTHER[int(0, OTHER.length - 1)]
    const s = new Y.Map()
    shapes.set(`s${String(i).padStart(5, '0')}`, s)
    s.set('type', type)
    s.set('x', int(0, AREA))
    s.set('y', int(0, AREA))
    s.set('stroke', colour())
    s.set('fill', type === 'sticky' ? '#fff59d' : (type === 'rect' || type === 'ellipse') && random() < 0.5 ? colour() : 'none')
    s.set('strokeWidth', int(1, 6))
    s.set('index', indexes[i])
    s.set('createdBy', 1 + (i % 3))
    if (random() < 0.1) s.set('rotation', int(0, 359))
    if (type === 'freehand') {
      const triplets = []
      let x = 0; let y = 0
      for (let p = 0; p < POINTS_PER_STROKE; p++) {
        x += int(-3, 12); y += int(-8, 8)
        triplets.push(x, y, Math.round((0.2 + 0.6 * random()) * 100) / 100)
      }
      const arr = new Y.Array()
      arr.push(triplets)
      s.set('points', arr)
      points += POINTS_PER_STROKE
    } else if (type === 'line' || type === 'arrow') {
      const arr = new Y.Array()
      arr.push([0, 0, 0.5, int(-300, 300), int(-300, 300), 0.5])
      s.set('points', arr)
    } else {
      s.set('w', int(40, 300))
      s.set('h', int(30, 200))
      if (type === 'text' || type === 'sticky') {
        s.set('fontSize', int(14, 32))
        s.set('text', new Y.Text(`Note ${i}\nline two of ${type} ${i}`))
      }
    }
  }
  if (b === 0) doc.getMap('board').set('background', '#fafafa')
})

if (points !== FREEHAND * POINTS_PER_STROKE || shapes.size !== SHAPES) throw new Error('fixture size')
const update = Y.encodeStateAsUpdate(doc)
if (process.argv[2]) {
  // One update per transaction, each as a 4-byte big-endian length + the update's bytes.
  const parts = updates.flatMap((u) => {
    const head = Buffer.alloc(4)
    head.writeUInt32BE(u.length)
    return [head, Buffer.from(u)]
  })
  writeFileSync(process.argv[2], Buffer.concat(parts))
  process.stderr.write(`${shapes.size} shapes, ${points} stroke points, ${update.length} bytes as ${updates.length} updates -> ${process.argv[2]}\n`)
} else {
  process.stdout.write(Buffer.from(update).toString('base64') + '\n')
}
