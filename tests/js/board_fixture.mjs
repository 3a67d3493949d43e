#!/usr/bin/env node
// Builds a whiteboard with the real JS client (yjs) and prints Y.encodeStateAsUpdate(doc)
// as base64 on stdout. Used by tests/collab/test_whiteboard.py; schema in docs/whiteboard.md.
//
//   node tests/js/board_fixture.mjs
import * as Y from 'yjs'

const doc = new Y.Doc()
const shapes = doc.getMap('shapes')

function add (id, props, extra = () => {}) {
  doc.transact(() => {
    const shape = new Y.Map()
    shapes.set(id, shape)
    for (const [key, value] of Object.entries(props)) shape.set(key, value)
    extra(shape)
  })
}

function points (triplets) {
  const arr = new Y.Array()
  arr.push(triplets)
  return arr
}

// Insertion order differs from paint order: "rect1" (index a5) is painted after "ellipse1" (a2).
add('rect1', { type: 'rect', x: 10, y: 20, w: 100, h: 50, stroke: '#112233', fill: '#ff0000', strokeWidth: 2, index: 'a5', createdBy: 1 })
add('ellipse1', { type: 'ellipse', x: 200, y: 20, w: 80, h: 40, stroke: '#000000', fill: 'none', strokeWidth: 3, opacity: 0.5, index: 'a2', createdBy: 2 })
add('line1', { type: 'line', x: 10, y: 200, stroke: '#00ff00', fill: 'none', strokeWidth: 4, index: 'a6', createdBy: 1 },
  (s) => s.set('points', points([0, 0, 0.5, 100, 50, 0.5])))
add('arrow1', { type: 'arrow', x: 150, y: 200, stroke: '#0000ff', fill: 'none', strokeWidth: 2, rotation: 15, index: 'a7', createdBy: 1 },
  (s) => s.set('points', points([0, 0, 0.5, 80, -40, 0.5])))

// A freehand stroke of 200 points, streamed while drawing (one push per point).
add('free1', { type: 'freehand', x: 300, y: 150, stroke: '#333333', fill: 'none', strokeWidth: 5, index: 'a8', createdBy: 2 },
  (s) => s.set('points', new Y.Array()))
const stroke = shapes.get('free1').get('points')
for (let i = 0; i < 200; i++) {
  doc.transact(() => {
    stroke.push([i, Math.round(20 * Math.sin(i / 10) * 100) / 100, Math.round((0.2 + 0.6 * (i % 50) / 50) * 100) / 100])
  })
}

add('text1', { type: 'text', x: 10, y: 300, w: 200, h: 30, stroke: '#222222', fill: 'none', strokeWidth: 1, fontSize: 24, index: 'a9', createdBy: 1 },
  (s) => s.set('text', new Y.Text('Hello & welcome')))
const text = shapes.get('text1').get('text')
text.insert(text.length, ' <board>')

add('sticky1', { type: 'sticky', x: 250, y: 300, w: 120, h: 120, stroke: '#aa8800', fill: '#ffee88', strokeWidth: 1, index: 'a3', createdBy: 2 },
  (s) => s.set('text', new Y.Text('<script>alert("x")</script>')))

doc.getMap('board').set('background', '#fafafa')

process.stdout.write(Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64') + '\n')
