// The whiteboard's Yjs schema (agreed with the server; docs in the brief of the board issue):
//   root Y.Map `shapes`: shape id -> Y.Map {type, x, y, w, h, points (Y.Array, flat
//   [x, y, pressure, ...] relative to x/y), stroke, fill, strokeWidth, opacity?, rotation?,
//   text (Y.Text), fontSize, index (fractional index string), createdBy}
//   root Y.Map `board`: {background}
import * as Y from 'yjs'

export const TYPES = ['rect', 'ellipse', 'line', 'arrow', 'freehand', 'text', 'sticky']
export const BOX_TYPES = new Set(['rect', 'ellipse', 'text', 'sticky'])
export const POINT_TYPES = new Set(['line', 'arrow', 'freehand'])
export const HEX = /^#[0-9a-fA-F]{6}$/

// ---------------------------------------------------------------- fractional indexes
// Strings over base-36 digits with no trailing '0'; compared as plain strings.
const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'

function midpoint (a, b) {
  // a < b (b === null: no upper bound); neither ends with '0'.
  if (b !== null) {
    let n = 0
    while ((a[n] || '0') === b[n]) n++
    if (n > 0) return b.slice(0, n) + midpoint(a.slice(n), b.slice(n))
  }
  const digitA = a ? DIGITS.indexOf(a[0]) : 0
  const digitB = b !== null ? DIGITS.indexOf(b[0]) : DIGITS.length
  if (digitA < 0 || digitB < 0) throw new Error('bad index')
  if (digitB - digitA > 1) return DIGITS[Math.round((digitA + digitB) / 2)]
  if (b !== null && b.length > 1) return b.slice(0, 1)
  return DIGITS[digitA] + midpoint(a.slice(1), null)
}

function clean (key) {
  return typeof key === 'string' && /^[0-9a-z]*$/.test(key) && !key.endsWith('0') ? key : null
}

/** An index above `a` (the current maximum, or '' / null for an empty board). */
export function indexAfter (a) {
  a = a || ''
  if (clean(a) === null) return a + 'V' // someone else's odd key: still sorts after it
  for (let i = 0; i < a.length; i++) {
    const digit = DIGITS.indexOf(a[i])
    if (digit < DIGITS.length - 1) return a.slice(0, i) + DIGITS[digit + 1]
  }
  return a ? midpoint(a, null) : 'a'
}

/** An index strictly between a (or '' for "bottom") and b (or null for "top"), when possible. */
export function indexBetween (a, b) {
  a = a || ''
  if (b === null || b === undefined) return indexAfter(a)
  if (clean(a) !== null && clean(b) !== null && a < b) return midpoint(a, b)
  // Ties or keys not of this scheme: the closest we can do; ties order by id.
  if (a < b && b.startsWith(a)) return a + 'V' < b ? a + 'V' : a
  return a < b ? a + 'V' : b
}

// ---------------------------------------------------------------- reading shapes
const num = (value, fallback = 0) => (typeof value === 'number' && Number.isFinite(value) ? value : fallback)

/** A shape's plain data (defaults filled in) from its Y.Map. */
export function readShape (id, ymap) {
  const points = ymap.get('points')
  const text = ymap.get('text')
  const type = ymap.get('type')
  return {
    id,
    type: TYPES.includes(type) ? type : 'rect',
    x: num(ymap.get('x')),
    y: num(ymap.get('y')),
    w: num(ymap.get('w')),
    h: num(ymap.get('h')),
    points: points instanceof Y.Array ? points.toArray().map((v) => num(v)) : [],
    stroke: HEX.test(ymap.get('stroke') || '') ? ymap.get('stroke') : '#1f2430',
    fill: HEX.test(ymap.get('fill') || '') ? ymap.get('fill') : 'none',
    strokeWidth: Math.max(0, num(ymap.get('strokeWidth'), 2)),
    opacity: Math.min(1, Math.max(0, num(ymap.get('opacity'), 1))),
    rotation: num(ymap.get('rotation')),
    text: text instanceof Y.Text ? text.toString() : (typeof text === 'string' ? text : ''),
    fontSize: Math.max(4, num(ymap.get('fontSize'), 20)),
    index: typeof ymap.get('index') === 'string' ? ymap.get('index') : '',
    createdBy: ymap.get('createdBy') ?? null,
  }
}

/** Paint order: index ascending (string order), ties by id. */
export function compareShapes (a, b) {
  if (a.index !== b.index) return a.index < b.index ? -1 : 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** Axis-aligned bounds {x, y, w, h} in board coordinates. */
export function bounds (shape) {
  if (POINT_TYPES.has(shape.type)) {
    const p = shape.points
    if (p.length < 3) return { x: shape.x, y: shape.y, w: 0, h: 0 }
    let minX = Infinity; let minY = Infinity; let maxX = -Infinity; let maxY = -Infinity
    for (let i = 0; i + 1 < p.length; i += 3) {
      minX = Math.min(minX, p[i]); maxX = Math.max(maxX, p[i])
      minY = Math.min(minY, p[i + 1]); maxY = Math.max(maxY, p[i + 1])
    }
    const pad = shape.strokeWidth / 2
    return { x: shape.x + minX - pad, y: shape.y + minY - pad, w: maxX - minX + 2 * pad, h: maxY - minY + 2 * pad }
  }
  return { x: shape.x, y: shape.y, w: Math.max(0, shape.w), h: Math.max(0, shape.h) }
}

export function randomId () {
  const bytes = new Uint8Array(10)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => DIGITS[b % 36]).join('')
}

/** A new shape's Y.Map from plain properties (points: array, text: string). */
export function makeShapeMap (props) {
  const ymap = new Y.Map()
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || key === 'id') continue
    if (key === 'points') ymap.set('points', Y.Array.from(value))
    else if (key === 'text') {
      const ytext = new Y.Text()
      ytext.insert(0, value)
      ymap.set('text', ytext)
    } else ymap.set(key, value)
  }
  return ymap
}

/** Replace a Y.Text's content with `next`, touching only the part that changed. */
export function setText (ytext, next) {
  const prev = ytext.toString()
  if (prev === next) return
  let start = 0
  while (start < prev.length && start < next.length && prev[start] === next[start]) start++
  let endPrev = prev.length; let endNext = next.length
  while (endPrev > start && endNext > start && prev[endPrev - 1] === next[endNext - 1]) { endPrev--; endNext-- }
  if (endPrev > start) ytext.delete(start, endPrev - start)
  if (endNext > start) ytext.insert(start, next.slice(start, endNext))
}

/** Replace all of a Y.Array's numbers. */
export function setPoints (yarray, values) {
  if (yarray.length) yarray.delete(0, yarray.length)
  yarray.insert(0, values)
}
