// Other people on the board: their pointers (an arrow and their name in their colour, eased
// towards the latest position) and outlines around the shapes they have selected.
import { svg } from './render.js'
import { HEX } from './model.js'

const ARROW = 'M0 0L0 17L4.5 12.5L7.5 19.5L10.5 18.2L7.6 11.4L13.5 11.4Z'

/**
 * cursorLayer: a <g> in screen coordinates; selectionLayer: a <g> in board coordinates.
 * view: {toScreen(x, y), zoom()}; bounds(id) -> {x, y, w, h} or null.
 */
export function mountCursors ({ awareness, cursorLayer, selectionLayer, view, bounds }) {
  const cursors = new Map() // clientId -> {node, label, cur: {x,y}, target: {x,y}, color, name}
  let raf = 0
  let remoteSelections = []

  function ensure (clientId) {
    let item = cursors.get(clientId)
    if (!item) {
      const node = svg('g', { class: 'board-cursor', 'data-client': clientId })
      const arrow = svg('path', { d: ARROW, stroke: '#fff', 'stroke-width': 1.2 })
      const labelBg = svg('rect', { x: 12, y: 18, rx: 3, height: 18, class: 'board-cursor__bg' })
      const label = svg('text', { x: 17, y: 31, class: 'board-cursor__label' })
      node.append(arrow, labelBg, label)
      cursorLayer.append(node)
      item = { node, arrow, labelBg, label, cur: null, target: null, color: '', name: '' }
      cursors.set(clientId, item)
    }
    return item
  }

  function place (item) {
    if (!item.cur) return
    const [sx, sy] = view.toScreen(item.cur.x, item.cur.y)
    item.node.setAttribute('transform', `translate(${Math.round(sx * 10) / 10} ${Math.round(sy * 10) / 10})`)
  }

  function tick () {
    raf = 0
    let moving = false
    for (const item of cursors.values()) {
      if (!item.cur || !item.target) continue
      const dx = item.target.x - item.cur.x; const dy = item.target.y - item.cur.y
      if (Math.abs(dx) + Math.abs(dy) < 0.05) {
        item.cur = { ...item.target }
      } else {
        item.cur = { x: item.cur.x + dx * 0.35, y: item.cur.y + dy * 0.35 }
        moving = true
      }
      place(item)
    }
    if (moving) raf = requestAnimationFrame(tick)
  }
  const animate = () => { if (!raf) raf = requestAnimationFrame(tick) }

  function drawSelections () {
    selectionLayer.replaceChildren()
    const pad = 4 / view.zoom()
    for (const { color, ids } of remoteSelections) {
      for (const id of ids) {
        const b = bounds(id)
        if (!b) continue
        selectionLayer.append(svg('rect', {
          x: b.x - pad, y: b.y - pad, width: b.w + 2 * pad, height: b.h + 2 * pad,
          fill: 'none', stroke: color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke',
          'data-id': id, class: 'board-remote-selection',
        }))
      }
    }
  }

  function update () {
    const seen = new Set()
    remoteSelections = []
    for (const [clientId, state] of awareness.getStates()) {
      if (clientId === awareness.clientID || !state) continue
      const user = state.user || {}
      const color = HEX.test(user.color || '') ? user.color : '#888888'
      const name = typeof user.name === 'string' ? user.name : 'Someone'
      if (Array.isArray(state.selection) && state.selection.length) {
        remoteSelections.push({ color, ids: state.selection.filter((id) => typeof id === 'string') })
      }
      const pointer = state.pointer
      if (!pointer || !Number.isFinite(pointer.x) || !Number.isFinite(pointer.y)) continue
      seen.add(clientId)
      const item = ensure(clientId)
      if (item.color !== color) {
        item.color = color
        item.arrow.setAttribute('fill', color)
        item.labelBg.setAttribute('fill', color)
      }
      if (item.name !== name) {
        item.name = name
        item.label.textContent = name
        item.labelBg.setAttribute('width', Math.max(20, name.length * 7.2 + 10))
        try { item.labelBg.setAttribute('width', item.label.getComputedTextLength() + 10) } catch {}
      }
      item.target = { x: pointer.x, y: pointer.y }
      if (!item.cur) { item.cur = { ...item.target }; place(item) }
    }
    for (const [clientId, item] of cursors) {
      if (!seen.has(clientId)) { item.node.remove(); cursors.delete(clientId) }
    }
    drawSelections()
    animate()
  }

  awareness.on('change', update)
  update()
  return {
    update,
    /** The viewport moved or shapes changed: re-place pointers, redraw outlines. */
    refresh () {
      for (const item of cursors.values()) place(item)
      drawSelections()
    },
    labels: () => Array.from(cursors.values()).map((item) => item.name),
  }
}
