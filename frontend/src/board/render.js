// SVG rendering of the shapes: one <g data-id> per shape, redrawn only when that shape
// changes; paint order follows (index, id).
import { getStroke } from 'perfect-freehand'
import { compareShapes } from './model.js'

export const SVGNS = 'http://www.w3.org/2000/svg'

export function svg (tag, attrs = {}) {
  const node = document.createElementNS(SVGNS, tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value))
  }
  return node
}

const r2 = (n) => Math.round(n * 100) / 100

/** SVG path data for a perfect-freehand outline polygon. */
function outlinePath (outline) {
  if (outline.length < 2) return ''
  const parts = [`M${r2(outline[0][0])} ${r2(outline[0][1])}`]
  for (let i = 1; i < outline.length; i++) {
    const [x0, y0] = outline[i]
    const [x1, y1] = outline[(i + 1) % outline.length]
    parts.push(`Q${r2(x0)} ${r2(y0)} ${r2((x0 + x1) / 2)} ${r2((y0 + y1) / 2)}`)
  }
  parts.push('Z')
  return parts.join('')
}

export function freehandPath (shape) {
  const pts = []
  const p = shape.points
  let simulated = true
  for (let i = 0; i + 1 < p.length; i += 3) {
    const pressure = p[i + 2] ?? 0.5
    if (pressure !== 0.5) simulated = false
    pts.push([shape.x + p[i], shape.y + p[i + 1], pressure])
  }
  if (!pts.length) return ''
  const outline = getStroke(pts, {
    size: Math.max(1, shape.strokeWidth) * 2.5,
    thinning: 0.5,
    smoothing: 0.5,
    streamline: 0.4,
    simulatePressure: simulated,
    last: true,
  })
  return outlinePath(outline)
}

function arrowHead (x1, y1, x2, y2, width) {
  const angle = Math.atan2(y2 - y1, x2 - x1)
  const size = Math.max(10, width * 4)
  const a1 = angle + Math.PI - Math.PI / 7
  const a2 = angle + Math.PI + Math.PI / 7
  return `M${r2(x2 + Math.cos(a1) * size)} ${r2(y2 + Math.sin(a1) * size)}L${r2(x2)} ${r2(y2)}` +
    `L${r2(x2 + Math.cos(a2) * size)} ${r2(y2 + Math.sin(a2) * size)}`
}

/** The SVG children of one shape's group. */
function shapeNodes (s) {
  const common = { stroke: s.stroke, 'stroke-width': s.strokeWidth, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }
  const hitWidth = Math.max(s.strokeWidth, 10)
  const nodes = []
  switch (s.type) {
    case 'rect': {
      const geom = { x: s.x, y: s.y, width: Math.max(0, s.w), height: Math.max(0, s.h), rx: 4 }
      nodes.push(svg('rect', { ...geom, ...common, fill: s.fill }))
      if (s.fill === 'none') nodes.push(svg('rect', { ...geom, class: 'hit', fill: 'none', stroke: 'transparent', 'stroke-width': hitWidth }))
      break
    }
    case 'ellipse': {
      const geom = { cx: s.x + s.w / 2, cy: s.y + s.h / 2, rx: Math.max(0, s.w / 2), ry: Math.max(0, s.h / 2) }
      nodes.push(svg('ellipse', { ...geom, ...common, fill: s.fill }))
      if (s.fill === 'none') nodes.push(svg('ellipse', { ...geom, class: 'hit', fill: 'none', stroke: 'transparent', 'stroke-width': hitWidth }))
      break
    }
    case 'line':
    case 'arrow': {
      const p = s.points
      const x1 = s.x + (p[0] || 0); const y1 = s.y + (p[1] || 0)
      const x2 = s.x + (p[3] || 0); const y2 = s.y + (p[4] || 0)
      nodes.push(svg('line', { x1, y1, x2, y2, ...common }))
      if (s.type === 'arrow' && (x1 !== x2 || y1 !== y2)) {
        nodes.push(svg('path', { d: arrowHead(x1, y1, x2, y2, s.strokeWidth), ...common, fill: 'none' }))
      }
      nodes.push(svg('line', { x1, y1, x2, y2, class: 'hit', stroke: 'transparent', 'stroke-width': hitWidth + 4 }))
      break
    }
    case 'freehand':
      nodes.push(svg('path', { d: freehandPath(s), fill: s.stroke, stroke: 'none' }))
      break
    case 'text': {
      const text = svg('text', { x: s.x, y: s.y, fill: s.stroke, 'font-size': s.fontSize, class: 'board-text' })
      s.text.split('\n').forEach((line, i) => {
        const span = svg('tspan', { x: s.x, y: s.y + s.fontSize * (1.2 * i + 1) - s.fontSize * 0.15 })
        span.textContent = line || ' '
        text.append(span)
      })
      nodes.push(svg('rect', { x: s.x, y: s.y, width: Math.max(s.w, 4), height: Math.max(s.h, s.fontSize * 1.2), fill: 'transparent', class: 'hit' }))
      nodes.push(text)
      break
    }
    case 'sticky': {
      nodes.push(svg('rect', { x: s.x, y: s.y, width: Math.max(0, s.w), height: Math.max(0, s.h), rx: 3, fill: s.fill === 'none' ? '#fff3a8' : s.fill, class: 'board-sticky' }))
      const fo = svg('foreignObject', { x: s.x, y: s.y, width: Math.max(0, s.w), height: Math.max(0, s.h) })
      const div = document.createElement('div')
      div.className = 'board-sticky__text'
      div.style.fontSize = `${s.fontSize}px`
      div.style.color = s.stroke
      div.textContent = s.text
      fo.append(div)
      nodes.push(fo)
      break
    }
  }
  return nodes
}

/** Draw one shape into its group (replacing what was there). */
export function paintShape (group, shape) {
  group.replaceChildren(...shapeNodes(shape))
  group.setAttribute('data-type', shape.type)
  if (shape.opacity < 1) group.setAttribute('opacity', shape.opacity)
  else group.removeAttribute('opacity')
  if (shape.rotation) {
    const cx = shape.x + shape.w / 2; const cy = shape.y + shape.h / 2
    group.setAttribute('transform', `rotate(${shape.rotation} ${cx} ${cy})`)
  } else group.removeAttribute('transform')
}

/** Put the layer's groups in paint order, moving only the ones out of place. */
export function reorder (layer, shapesById, groups) {
  const ordered = Array.from(shapesById.values()).sort(compareShapes)
  let cursor = layer.firstChild
  for (const shape of ordered) {
    const group = groups.get(shape.id)
    if (!group) continue
    if (group === cursor) cursor = cursor.nextSibling
    else layer.insertBefore(group, cursor)
  }
}
