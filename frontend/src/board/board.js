// The board itself: SVG scene, viewport (pan/zoom), tools, selection, text editing,
// undo/redo and presence (pointer + selection in the awareness state).
import * as Y from 'yjs'
import {
  BOX_TYPES, POINT_TYPES, bounds, compareShapes, indexAfter, indexBetween, makeShapeMap,
  randomId, readShape, setPoints, setText,
} from './model.js'
import { paintShape, reorder, svg } from './render.js'
import { mountCursors } from './cursors.js'
import { TOOLS, mountToolbar } from './toolbar.js'

const MIN_ZOOM = 0.1
const MAX_ZOOM = 8
const POINTER_THROTTLE_MS = 50
const KEY_TOOLS = Object.fromEntries(TOOLS.map((t) => [t.key.toLowerCase(), t.id]))

function isTyping (target) {
  if (!target || !(target instanceof Element)) return false
  return target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]') !== null
}

// Below this zoom, text is hidden while the board is drawn (see applyView).
const FAR_ZOOM = 0.3

export function createBoard ({ root, toolbarEl, ydoc, awareness, user, userId, canEdit }) {
  const yshapes = ydoc.getMap('shapes')
  ydoc.getMap('board')
  const localOrigin = { board: 'local' }
  const undoManager = new Y.UndoManager(yshapes, { trackedOrigins: new Set([localOrigin]) })
  const transact = (fn) => ydoc.transact(fn, localOrigin)

  // ------------------------------------------------------------------ state
  let editable = canEdit
  let tool = canEdit ? 'select' : 'hand'
  const style = { stroke: '#1f2430', fill: 'none', strokeWidth: 2 }
  const view = { x: 0, y: 0, zoom: 1 } // screen = board * zoom + (x, y)
  let selection = new Set()
  let spaceDown = false
  const shapes = new Map() // id -> plain shape (cache of readShape)
  const groups = new Map() // id -> <g>
  let maxIndex = ''

  // ------------------------------------------------------------------ DOM
  root.classList.add('board')
  root.tabIndex = 0
  const svgEl = svg('svg', { class: 'board__svg', role: 'img', 'aria-label': 'Whiteboard' })
  const world = svg('g', { class: 'board__world' })
  const shapeLayer = svg('g', { class: 'board__shapes' })
  const remoteLayer = svg('g', { class: 'board__remote-selections' })
  const overlay = svg('g', { class: 'board__overlay' })
  world.append(shapeLayer, remoteLayer, overlay)
  const cursorLayer = svg('g', { class: 'board__cursors' })
  svgEl.append(world, cursorLayer)
  root.replaceChildren(svgEl)

  function applyView () {
    world.setAttribute('transform', `translate(${view.x} ${view.y}) scale(${view.zoom})`)
    root.dataset.zoom = String(Math.round(view.zoom * 1000) / 1000)
    // Zoomed far out, text is unreadable anyway and the sticky notes' HTML text
    // (foreignObject) is the most expensive thing to repaint: hide both (site.css).
    root.classList.toggle('board--far', view.zoom < FAR_ZOOM)
    cursors?.refresh()
    drawOverlay()
    if (textEdit) placeTextEditor()
  }
  const toScreen = (x, y) => [x * view.zoom + view.x, y * view.zoom + view.y]
  function toBoard (clientX, clientY) {
    const rect = svgEl.getBoundingClientRect()
    return { x: (clientX - rect.left - view.x) / view.zoom, y: (clientY - rect.top - view.y) / view.zoom }
  }

  // ------------------------------------------------------------------ rendering
  const dirty = new Set()
  let orderDirty = false
  let frame = 0
  function schedule () { if (!frame) frame = requestAnimationFrame(flush) }

  function flush () {
    frame = 0
    for (const id of dirty) {
      const ymap = yshapes.get(id)
      if (!(ymap instanceof Y.Map)) {
        shapes.delete(id)
        groups.get(id)?.remove()
        groups.delete(id)
        if (selection.has(id)) { selection.delete(id); selectionChanged() }
        continue
      }
      const shape = readShape(id, ymap)
      const before = shapes.get(id)
      shapes.set(id, shape)
      if (!before || before.index !== shape.index) orderDirty = true
      if (shape.index > maxIndex) maxIndex = shape.index
      let group = groups.get(id)
      if (!group) {
        group = svg('g', { 'data-id': id, class: 'board-shape' })
        groups.set(id, group)
        orderDirty = true
      }
      paintShape(group, shape)
      if (textEdit && textEdit.id === id) group.setAttribute('visibility', 'hidden')
    }
    dirty.clear()
    if (orderDirty) {
      orderDirty = false
      reorder(shapeLayer, shapes, groups)
    }
    drawOverlay()
    cursors?.refresh()
    refreshToolbar()
  }

  function markAll () {
    for (const id of yshapes.keys()) dirty.add(id)
    for (const id of shapes.keys()) dirty.add(id)
    schedule()
  }

  yshapes.observeDeep((events) => {
    for (const event of events) {
      if (event.target === yshapes) {
        for (const key of event.keysChanged) dirty.add(key)
      } else {
        // A change inside a shape: find which shape (the first step of the path).
        const path = event.path
        if (path.length) dirty.add(String(path[0]))
      }
    }
    schedule()
  })

  function currentMaxIndex () {
    // maxIndex only grows with what we have painted; include unpainted changes too.
    let max = maxIndex
    for (const [, ymap] of yshapes) {
      const index = ymap instanceof Y.Map ? ymap.get('index') : null
      if (typeof index === 'string' && index > max) max = index
    }
    return max
  }

  function shapeNow (id) {
    const ymap = yshapes.get(id)
    return ymap instanceof Y.Map ? readShape(id, ymap) : null
  }

  // ------------------------------------------------------------------ selection overlay
  let marquee = null // {x0, y0, x1, y1} in board coords
  function selectionBounds (ids) {
    let minX = Infinity; let minY = Infinity; let maxX = -Infinity; let maxY = -Infinity
    for (const id of ids) {
      const s = shapes.get(id)
      if (!s) continue
      const b = bounds(s)
      minX = Math.min(minX, b.x); minY = Math.min(minY, b.y)
      maxX = Math.max(maxX, b.x + b.w); maxY = Math.max(maxY, b.y + b.h)
    }
    return minX === Infinity ? null : { x: minX, y: minY, w: maxX - minX, h: maxY - minY }
  }

  function drawOverlay () {
    const nodes = []
    const pad = 4 / view.zoom
    for (const id of selection) {
      const s = shapes.get(id)
      if (!s) continue
      const b = bounds(s)
      nodes.push(svg('rect', {
        x: b.x - pad, y: b.y - pad, width: b.w + 2 * pad, height: b.h + 2 * pad,
        class: 'board-selection', 'vector-effect': 'non-scaling-stroke',
      }))
    }
    const all = selectionBounds(selection)
    if (all && editable && tool === 'select' && !textEdit) {
      const size = 9 / view.zoom
      const corners = {
        nw: [all.x - pad, all.y - pad], ne: [all.x + all.w + pad, all.y - pad],
        sw: [all.x - pad, all.y + all.h + pad], se: [all.x + all.w + pad, all.y + all.h + pad],
      }
      for (const [handle, [hx, hy]] of Object.entries(corners)) {
        nodes.push(svg('rect', {
          x: hx - size / 2, y: hy - size / 2, width: size, height: size,
          class: `board-handle board-handle--${handle}`, 'data-handle': handle,
          'vector-effect': 'non-scaling-stroke',
        }))
      }
    }
    if (marquee) {
      nodes.push(svg('rect', {
        x: Math.min(marquee.x0, marquee.x1), y: Math.min(marquee.y0, marquee.y1),
        width: Math.abs(marquee.x1 - marquee.x0), height: Math.abs(marquee.y1 - marquee.y0),
        class: 'board-marquee', 'vector-effect': 'non-scaling-stroke',
      }))
    }
    overlay.replaceChildren(...nodes)
  }

  function setSelection (ids) {
    const next = new Set(ids)
    if (next.size === selection.size && [...next].every((id) => selection.has(id))) return
    selection = next
    selectionChanged()
  }
  function selectionChanged () {
    awareness.setLocalStateField('selection', [...selection])
    drawOverlay()
    refreshToolbar()
  }

  // ------------------------------------------------------------------ presence
  awareness.setLocalState({ user, pointer: null, selection: [] })
  let pointerSent = 0
  let pointerTimer = 0
  let pendingPointer = null
  function sendPointer (point) {
    pendingPointer = point
    const now = Date.now()
    const wait = POINTER_THROTTLE_MS - (now - pointerSent)
    if (wait <= 0) {
      clearTimeout(pointerTimer)
      pointerTimer = 0
      pointerSent = now
      awareness.setLocalStateField('pointer', pendingPointer)
    } else if (!pointerTimer) {
      pointerTimer = setTimeout(() => {
        pointerTimer = 0
        pointerSent = Date.now()
        awareness.setLocalStateField('pointer', pendingPointer)
      }, wait)
    }
  }

  const cursors = mountCursors({
    awareness,
    cursorLayer,
    selectionLayer: remoteLayer,
    view: { toScreen, zoom: () => view.zoom },
    bounds: (id) => { const s = shapes.get(id); return s ? bounds(s) : null },
  })

  // ------------------------------------------------------------------ toolbar
  let toolbar = null
  function refreshToolbar () {
    toolbar?.refresh({
      canUndo: undoManager.undoStack.length > 0,
      canRedo: undoManager.redoStack.length > 0,
      hasSelection: selection.size > 0,
    })
  }
  function setTool (id) {
    if (!editable && id !== 'hand') return
    finishTextEdit()
    tool = id
    root.dataset.tool = id
    if (id !== 'select' && id !== 'hand') setSelection([])
    toolbar?.setTool(id)
    drawOverlay()
  }
  function setStyle (partial) {
    Object.assign(style, partial)
    if (!editable || !selection.size) return
    transact(() => {
      for (const id of selection) {
        const ymap = yshapes.get(id)
        if (!(ymap instanceof Y.Map)) continue
        for (const [key, value] of Object.entries(partial)) {
          if (key === 'fill' && ['line', 'arrow', 'freehand', 'text'].includes(ymap.get('type'))) continue
          ymap.set(key, value)
        }
      }
    })
  }
  if (canEdit && toolbarEl) {
    toolbar = mountToolbar(toolbarEl, {
      tool,
      style,
      onTool: setTool,
      onStyle: setStyle,
      onAction: (action) => { runAction(action); root.focus({ preventScroll: true }) },
    })
  } else if (toolbarEl) {
    toolbarEl.replaceChildren()
    toolbarEl.hidden = true
  }
  root.dataset.tool = tool

  // ------------------------------------------------------------------ actions
  function addShape (props) {
    const id = randomId()
    const index = indexAfter(currentMaxIndex())
    maxIndex = index
    transact(() => {
      yshapes.set(id, makeShapeMap({ ...props, index, createdBy: userId }))
    })
    return id
  }

  function deleteShapes (ids) {
    const list = [...ids].filter((id) => yshapes.has(id))
    if (!list.length) return
    transact(() => { for (const id of list) yshapes.delete(id) })
  }

  function duplicate () {
    const ordered = [...selection].map(shapeNow).filter(Boolean).sort(compareShapes)
    if (!ordered.length) return
    let index = currentMaxIndex()
    const created = []
    transact(() => {
      for (const s of ordered) {
        index = indexAfter(index)
        const id = randomId()
        const props = { ...s, x: s.x + 16, y: s.y + 16, index, createdBy: userId }
        if (!POINT_TYPES.has(s.type)) delete props.points
        if (!['text', 'sticky'].includes(s.type)) delete props.text
        if (!s.rotation) delete props.rotation
        if (s.opacity === 1 && !yshapes.get(s.id).has('opacity')) delete props.opacity
        yshapes.set(id, makeShapeMap(props))
        created.push(id)
      }
    })
    maxIndex = index
    setSelection(created)
  }

  function restack (direction) {
    if (!selection.size) return
    const order = [...yshapes.keys()].map(shapeNow).filter(Boolean).sort(compareShapes)
    const chosen = order.filter((s) => selection.has(s.id))
    if (direction > 0) chosen.reverse()
    transact(() => {
      for (const s of chosen) {
        order.sort(compareShapes)
        const i = order.findIndex((o) => o.id === s.id)
        let index
        if (direction > 0) {
          const next = order[i + 1]
          if (!next || selection.has(next.id)) continue
          index = indexBetween(next.index, order[i + 2] ? order[i + 2].index : null)
        } else {
          const prev = order[i - 1]
          if (!prev || selection.has(prev.id)) continue
          index = indexBetween(order[i - 2] ? order[i - 2].index : '', prev.index)
        }
        s.index = index
        yshapes.get(s.id).set('index', index)
      }
    })
  }

  function runAction (action) {
    if (!editable) return
    finishTextEdit()
    undoManager.stopCapturing()
    if (action === 'undo') undoManager.undo()
    else if (action === 'redo') undoManager.redo()
    else if (action === 'delete') { deleteShapes(selection); setSelection([]) } else if (action === 'duplicate') duplicate()
    else if (action === 'forward') restack(1)
    else if (action === 'back') restack(-1)
    undoManager.stopCapturing()
    refreshToolbar()
  }
  undoManager.on('stack-item-added', refreshToolbar)
  undoManager.on('stack-item-popped', refreshToolbar)

  // ------------------------------------------------------------------ text editing
  let textEdit = null // {id, area, isNew}
  function placeTextEditor () {
    const s = shapes.get(textEdit.id) || shapeNow(textEdit.id)
    if (!s) return
    const [sx, sy] = toScreen(s.x, s.y)
    const area = textEdit.area
    area.style.left = `${sx}px`
    area.style.top = `${sy}px`
    area.style.fontSize = `${s.fontSize * view.zoom}px`
    area.style.color = s.stroke
    if (s.type === 'sticky') {
      area.style.width = `${s.w * view.zoom}px`
      area.style.height = `${s.h * view.zoom}px`
      area.style.background = s.fill === 'none' ? '#fff3a8' : s.fill
    } else {
      area.style.width = `${Math.max(s.w + s.fontSize, 120) * view.zoom}px`
      area.style.height = `${Math.max(s.h, s.fontSize * 1.2) * view.zoom + 4}px`
    }
  }

  const measurer = document.createElement('canvas').getContext('2d')
  function measureText (text, fontSize) {
    measurer.font = `${fontSize}px system-ui, sans-serif`
    const lines = text.split('\n')
    const w = Math.max(...lines.map((line) => measurer.measureText(line).width), fontSize / 2)
    return { w: Math.ceil(w), h: Math.ceil(lines.length * fontSize * 1.2) }
  }

  // Apply a Y.Text delta to a string and move the positions in `marks` through it:
  // text retained, inserted or deleted before a position shifts it.
  function applyTextDelta (value, delta, marks) {
    let index = 0
    for (const op of delta) {
      if (op.retain) index += op.retain
      else if (op.insert !== undefined) {
        const text = typeof op.insert === 'string' ? op.insert : ''
        value = value.slice(0, index) + text + value.slice(index)
        for (let i = 0; i < marks.length; i++) if (marks[i] > index) marks[i] += text.length
        index += text.length
      } else if (op.delete) {
        value = value.slice(0, index) + value.slice(index + op.delete)
        for (let i = 0; i < marks.length; i++) {
          if (marks[i] > index) marks[i] = Math.max(index, marks[i] - op.delete)
        }
      }
    }
    return value
  }

  // Write the editor's value into the Y.Text as one minimal change, placed so that it
  // ends at the caret (so "aa" -> "aaa" with the caret at 1 inserts at 0, not at 2).
  function writeEditorText (ytext, next, caret) {
    const prev = ytext.toString()
    if (prev === next) return
    let end = 0 // common suffix length, kept from crossing the caret
    const maxEnd = Math.min(prev.length, next.length, Math.max(0, next.length - caret))
    while (end < maxEnd && prev[prev.length - 1 - end] === next[next.length - 1 - end]) end++
    let start = 0
    const maxStart = Math.min(prev.length - end, next.length - end)
    while (start < maxStart && prev[start] === next[start]) start++
    const removed = prev.length - end - start
    const added = next.slice(start, next.length - end)
    if (removed > 0) ytext.delete(start, removed)
    if (added) ytext.insert(start, added)
    if (ytext.toString() !== next) setText(ytext, next) // safety net; never expected
  }

  function startTextEdit (id, isNew) {
    finishTextEdit()
    const ymap = yshapes.get(id)
    if (!(ymap instanceof Y.Map) || !editable) return
    let ytext = ymap.get('text')
    if (!(ytext instanceof Y.Text)) {
      transact(() => { ytext = new Y.Text(); ymap.set('text', ytext) })
      ytext = ymap.get('text')
    }
    const area = document.createElement('textarea')
    area.className = `board-text-editor board-text-editor--${ymap.get('type')}`
    area.value = ytext.toString()
    area.setAttribute('aria-label', 'Shape text')
    root.append(area)
    textEdit = { id, area, isNew, stop: null }
    groups.get(id)?.setAttribute('visibility', 'hidden')
    placeTextEditor()
    setSelection([id])

    // Keep the open editor live: remote (and undo/redo) changes to the Y.Text are applied
    // to the textarea, with the local caret/selection mapped through them.
    let observed = null
    const onText = (event) => {
      if (event.transaction.origin === localOrigin && area.value === observed.toString()) return
      const marks = [area.selectionStart, area.selectionEnd]
      const direction = area.selectionDirection
      let next = applyTextDelta(area.value, event.delta, marks)
      if (next !== observed.toString()) { // out of step: take the Y.Text as it is
        next = observed.toString()
        marks[0] = Math.min(marks[0], next.length); marks[1] = Math.min(marks[1], next.length)
      }
      if (next === area.value) return
      const hadFocus = document.activeElement === area
      area.value = next
      area.setSelectionRange(marks[0], marks[1], direction)
      if (hadFocus && document.activeElement !== area) area.focus({ preventScroll: true })
      placeTextEditor()
    }
    const observe = (text) => {
      if (observed === text) return
      if (observed) observed.unobserve(onText)
      observed = text instanceof Y.Text ? text : null
      if (!observed) return
      observed.observe(onText)
      if (area.value !== observed.toString()) {
        const start = area.selectionStart; const end = area.selectionEnd
        area.value = observed.toString()
        area.setSelectionRange(Math.min(start, area.value.length), Math.min(end, area.value.length))
      }
    }
    // The shape's `text` key may be replaced by another Y.Text (e.g. set concurrently).
    const onMap = (event) => { if (event.keysChanged.has('text')) observe(ymap.get('text')) }
    observe(ytext)
    ymap.observe(onMap)
    textEdit.stop = () => {
      ymap.unobserve(onMap)
      if (observed) observed.unobserve(onText)
      observed = null
    }

    area.addEventListener('input', () => {
      const current = yshapes.get(id)
      if (!(current instanceof Y.Map)) return
      transact(() => {
        let text = current.get('text')
        if (!(text instanceof Y.Text)) { text = new Y.Text(); current.set('text', text) }
        writeEditorText(text, area.value, area.selectionEnd)
        if (current.get('type') === 'text') {
          const size = measureText(area.value, current.get('fontSize') || 20)
          current.set('w', size.w)
          current.set('h', size.h)
        }
      })
      placeTextEditor()
    })
    area.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') { event.preventDefault(); finishTextEdit(); root.focus({ preventScroll: true }) }
      event.stopPropagation()
    })
    area.addEventListener('blur', () => finishTextEdit())
    setTimeout(() => area.focus(), 0)
  }

  function finishTextEdit () {
    if (!textEdit) return
    const { id, area, stop } = textEdit
    textEdit = null
    if (stop) stop()
    area.remove()
    groups.get(id)?.removeAttribute('visibility')
    const ymap = yshapes.get(id)
    if (ymap instanceof Y.Map && ymap.get('type') === 'text' && !String(ymap.get('text') || '').trim()) {
      deleteShapes([id])
      setSelection([])
    }
    undoManager.stopCapturing()
    drawOverlay()
  }

  // ------------------------------------------------------------------ pointer input
  let gesture = null
  const activePointers = new Map() // pointerId -> {x, y} client coords (for pinch)

  function shapeIdAt (target) {
    const group = target instanceof Element ? target.closest('.board-shape[data-id]') : null
    return group && shapeLayer.contains(group) ? group.dataset.id : null
  }
  function shapeIdAtPoint (clientX, clientY) {
    for (const node of document.elementsFromPoint(clientX, clientY)) {
      const id = shapeIdAt(node)
      if (id) return id
    }
    return null
  }

  function zoomAt (clientX, clientY, factor) {
    const rect = svgEl.getBoundingClientRect()
    const px = clientX - rect.left; const py = clientY - rect.top
    const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor))
    const bx = (px - view.x) / view.zoom; const by = (py - view.y) / view.zoom
    view.zoom = zoom
    view.x = px - bx * zoom
    view.y = py - by * zoom
    applyView()
  }

  svgEl.addEventListener('wheel', (event) => {
    event.preventDefault()
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY
    zoomAt(event.clientX, event.clientY, Math.exp(-delta * (event.ctrlKey ? 0.01 : 0.0015)))
  }, { passive: false })

  function beginResize (handle, start) {
    const ids = [...selection].filter((id) => shapes.has(id))
    const box = selectionBounds(ids)
    if (!box) return null
    const originals = new Map(ids.map((id) => [id, shapeNow(id)]))
    const anchor = {
      x: handle.includes('w') ? box.x + box.w : box.x,
      y: handle.includes('n') ? box.y + box.h : box.y,
    }
    undoManager.stopCapturing()
    return { kind: 'resize', handle, start, box, anchor, originals }
  }

  function applyResize (g, point) {
    const { box, anchor } = g
    const sx = box.w > 0 ? (point.x - anchor.x) / (g.handle.includes('w') ? -box.w : box.w) : 1
    const sy = box.h > 0 ? (point.y - anchor.y) / (g.handle.includes('n') ? -box.h : box.h) : 1
    const fx = Math.max(0.02, sx); const fy = Math.max(0.02, sy)
    const mapX = (x) => anchor.x + (x - anchor.x) * fx
    const mapY = (y) => anchor.y + (y - anchor.y) * fy
    transact(() => {
      for (const [id, s] of g.originals) {
        const ymap = yshapes.get(id)
        if (!(ymap instanceof Y.Map) || !s) continue
        if (BOX_TYPES.has(s.type)) {
          ymap.set('x', mapX(s.x)); ymap.set('y', mapY(s.y))
          if (s.type === 'text') {
            // Text scales by its font size; its box follows the text.
            const fontSize = Math.max(4, Math.round(s.fontSize * fy * 10) / 10)
            const size = measureText(s.text, fontSize)
            ymap.set('fontSize', fontSize); ymap.set('w', size.w); ymap.set('h', size.h)
          } else {
            ymap.set('w', s.w * fx); ymap.set('h', s.h * fy)
          }
        } else {
          ymap.set('x', mapX(s.x)); ymap.set('y', mapY(s.y))
          const pts = s.points.slice()
          for (let i = 0; i + 1 < pts.length; i += 3) { pts[i] *= fx; pts[i + 1] *= fy }
          const yarr = ymap.get('points')
          if (yarr instanceof Y.Array) setPoints(yarr, pts)
        }
      }
    })
  }

  svgEl.addEventListener('pointerdown', (event) => {
    activePointers.set(event.pointerId, { x: event.clientX, y: event.clientY })
    if (activePointers.size === 2) {
      // Two fingers: pinch-zoom and pan, whatever the tool.
      const [a, b] = [...activePointers.values()]
      gesture = { kind: 'pinch', dist: Math.hypot(a.x - b.x, a.y - b.y), mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } }
      return
    }
    if (event.button !== 0 && event.button !== 1) return
    root.focus({ preventScroll: true })
    if (textEdit && event.target !== textEdit.area) finishTextEdit()
    svgEl.setPointerCapture(event.pointerId)
    const point = toBoard(event.clientX, event.clientY)
    sendPointer(point)

    if (!editable || spaceDown || tool === 'hand' || event.button === 1) {
      gesture = { kind: 'pan', x: event.clientX, y: event.clientY, vx: view.x, vy: view.y }
      root.dataset.panning = 'true'
      return
    }
    undoManager.stopCapturing()
    const pressure = event.pressure || 0.5
    const common = { stroke: style.stroke, strokeWidth: style.strokeWidth }
    switch (tool) {
      case 'select': {
        const handle = event.target instanceof Element ? event.target.getAttribute('data-handle') : null
        if (handle) { gesture = beginResize(handle, point); return }
        const id = shapeIdAt(event.target)
        if (id) {
          if (event.shiftKey) {
            const next = new Set(selection)
            if (next.has(id)) next.delete(id); else next.add(id)
            setSelection(next)
          } else if (!selection.has(id)) setSelection([id])
          const moving = [...selection].map(shapeNow).filter(Boolean)
          gesture = { kind: 'move', start: point, originals: moving, moved: false }
        } else {
          gesture = { kind: 'marquee', start: point, base: event.shiftKey ? new Set(selection) : new Set() }
          if (!event.shiftKey) setSelection([])
        }
        return
      }
      case 'pen': {
        const id = addShape({ type: 'freehand', x: point.x, y: point.y, points: [0, 0, pressure], ...common, fill: 'none' })
        gesture = { kind: 'pen', id, origin: point }
        return
      }
      case 'rect':
      case 'ellipse':
      case 'sticky':
      case 'text':
        if (tool === 'text' || tool === 'sticky') {
          const hit = shapeIdAt(event.target)
          const existing = hit && shapes.get(hit)
          if (existing && existing.type === tool) { startTextEdit(hit, false); gesture = null; return }
          const fontSize = tool === 'text' ? Math.max(16, style.strokeWidth * 8) : 18
          const id = tool === 'text'
            ? addShape({ type: 'text', x: point.x, y: point.y, w: 10, h: Math.ceil(fontSize * 1.2), text: '', fontSize, stroke: style.stroke, fill: 'none', strokeWidth: style.strokeWidth })
            : addShape({ type: 'sticky', x: point.x, y: point.y, w: 200, h: 160, text: '', fontSize, stroke: '#1f2430', fill: style.fill === 'none' ? '#fff3a8' : style.fill, strokeWidth: 1 })
          startTextEdit(id, true)
          gesture = null
          return
        } else {
          const id = addShape({ type: tool, x: point.x, y: point.y, w: 0, h: 0, ...common, fill: style.fill })
          gesture = { kind: 'box', id, start: point }
        }
        return
      case 'line':
      case 'arrow': {
        const id = addShape({ type: tool, x: point.x, y: point.y, points: [0, 0, 0.5, 0, 0, 0.5], ...common, fill: 'none' })
        gesture = { kind: 'segment', id, start: point }
        return
      }
      case 'eraser': {
        gesture = { kind: 'erase', last: { x: event.clientX, y: event.clientY } }
        const id = shapeIdAtPoint(event.clientX, event.clientY)
        if (id) deleteShapes([id])
      }
    }
  })

  svgEl.addEventListener('pointermove', (event) => {
    if (activePointers.has(event.pointerId)) activePointers.set(event.pointerId, { x: event.clientX, y: event.clientY })
    const point = toBoard(event.clientX, event.clientY)
    sendPointer(point)
    if (!gesture) return
    switch (gesture.kind) {
      case 'pinch': {
        const [a, b] = [...activePointers.values()]
        if (!a || !b) return
        const dist = Math.hypot(a.x - b.x, a.y - b.y)
        const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }
        view.x += mid.x - gesture.mid.x
        view.y += mid.y - gesture.mid.y
        if (gesture.dist > 0) zoomAt(mid.x, mid.y, dist / gesture.dist)
        else applyView()
        gesture.dist = dist
        gesture.mid = mid
        return
      }
      case 'pan':
        view.x = gesture.vx + event.clientX - gesture.x
        view.y = gesture.vy + event.clientY - gesture.y
        applyView()
        return
      case 'pen': {
        const ymap = yshapes.get(gesture.id)
        if (!(ymap instanceof Y.Map)) { gesture = null; return }
        const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : []
        const samples = events.length ? events : [event]
        const values = []
        for (const e of samples) {
          const p = toBoard(e.clientX, e.clientY)
          values.push(Math.round((p.x - gesture.origin.x) * 100) / 100, Math.round((p.y - gesture.origin.y) * 100) / 100, e.pressure || 0.5)
        }
        transact(() => ymap.get('points').push(values))
        return
      }
      case 'box': {
        const ymap = yshapes.get(gesture.id)
        if (!(ymap instanceof Y.Map)) { gesture = null; return }
        let x0 = gesture.start.x; let y0 = gesture.start.y
        let w = point.x - x0; let h = point.y - y0
        if (event.shiftKey) { const m = Math.max(Math.abs(w), Math.abs(h)); w = Math.sign(w || 1) * m; h = Math.sign(h || 1) * m }
        if (w < 0) { x0 += w; w = -w }
        if (h < 0) { y0 += h; h = -h }
        transact(() => { ymap.set('x', x0); ymap.set('y', y0); ymap.set('w', w); ymap.set('h', h) })
        return
      }
      case 'segment': {
        const ymap = yshapes.get(gesture.id)
        if (!(ymap instanceof Y.Map)) { gesture = null; return }
        const yarr = ymap.get('points')
        transact(() => {
          yarr.delete(3, yarr.length - 3)
          yarr.insert(3, [point.x - gesture.start.x, point.y - gesture.start.y, 0.5])
        })
        return
      }
      case 'move': {
        const dx = point.x - gesture.start.x; const dy = point.y - gesture.start.y
        if (!gesture.moved && Math.hypot(dx, dy) * view.zoom < 2) return
        gesture.moved = true
        transact(() => {
          for (const s of gesture.originals) {
            const ymap = yshapes.get(s.id)
            if (!(ymap instanceof Y.Map)) continue
            ymap.set('x', s.x + dx)
            ymap.set('y', s.y + dy)
          }
        })
        return
      }
      case 'resize':
        applyResize(gesture, point)
        return
      case 'marquee': {
        marquee = { x0: gesture.start.x, y0: gesture.start.y, x1: point.x, y1: point.y }
        const minX = Math.min(marquee.x0, marquee.x1); const maxX = Math.max(marquee.x0, marquee.x1)
        const minY = Math.min(marquee.y0, marquee.y1); const maxY = Math.max(marquee.y0, marquee.y1)
        const next = new Set(gesture.base)
        for (const s of shapes.values()) {
          const b = bounds(s)
          if (b.x >= minX && b.y >= minY && b.x + b.w <= maxX && b.y + b.h <= maxY) next.add(s.id)
        }
        setSelection(next)
        drawOverlay()
        return
      }
      case 'erase': {
        // Sample the way from the last position too, so a fast stroke misses nothing.
        const last = gesture.last || { x: event.clientX, y: event.clientY }
        const steps = Math.max(1, Math.ceil(Math.hypot(event.clientX - last.x, event.clientY - last.y) / 4))
        const hits = new Set()
        for (let i = 1; i <= steps; i++) {
          const id = shapeIdAtPoint(last.x + (event.clientX - last.x) * i / steps, last.y + (event.clientY - last.y) * i / steps)
          if (id) hits.add(id)
        }
        gesture.last = { x: event.clientX, y: event.clientY }
        if (hits.size) deleteShapes(hits)
      }
    }
  })

  function endGesture (event) {
    activePointers.delete(event.pointerId)
    if (!gesture) return
    const g = gesture
    if (g.kind === 'pinch') { if (activePointers.size < 2) gesture = null; return }
    gesture = null
    delete root.dataset.panning
    if (g.kind === 'box') {
      const s = shapeNow(g.id)
      if (s && s.w < 2 && s.h < 2) {
        // A click, not a drag: a default-sized shape.
        transact(() => { const ymap = yshapes.get(g.id); ymap.set('w', 120); ymap.set('h', 80) })
      }
      setSelection([g.id])
    } else if (g.kind === 'segment') {
      const s = shapeNow(g.id)
      if (s && Math.hypot(s.points[3] || 0, s.points[4] || 0) < 2) deleteShapes([g.id])
      else setSelection([g.id])
    } else if (g.kind === 'marquee') {
      marquee = null
      drawOverlay()
    }
    undoManager.stopCapturing()
  }
  svgEl.addEventListener('pointerup', endGesture)
  svgEl.addEventListener('pointercancel', endGesture)
  svgEl.addEventListener('pointerleave', (event) => {
    if (!gesture && event.pointerType !== 'touch') sendPointer(null)
  })

  svgEl.addEventListener('dblclick', (event) => {
    if (!editable) return
    const id = shapeIdAt(event.target)
    const s = id && shapes.get(id)
    if (s && (s.type === 'text' || s.type === 'sticky')) startTextEdit(id, false)
  })

  // ------------------------------------------------------------------ keyboard
  window.addEventListener('keydown', (event) => {
    if (isTyping(event.target)) return
    if (event.key === ' ') {
      if (!spaceDown) { spaceDown = true; root.dataset.space = 'true' }
      if (event.target === root || event.target === document.body) event.preventDefault()
      return
    }
    const mod = event.ctrlKey || event.metaKey
    const key = event.key.toLowerCase()
    if (mod && key === 'z') {
      event.preventDefault()
      runAction(event.shiftKey ? 'redo' : 'undo')
      return
    }
    if (mod && key === 'y') { event.preventDefault(); runAction('redo'); return }
    if (mod && key === 'd') { event.preventDefault(); runAction('duplicate'); return }
    if (mod && key === 'a') {
      if (event.target === root || event.target === document.body) {
        event.preventDefault()
        setSelection(shapes.keys())
      }
      return
    }
    if (mod || event.altKey) return
    if (event.key === 'Delete' || event.key === 'Backspace') {
      if (selection.size) { event.preventDefault(); runAction('delete') }
      return
    }
    if (event.key === 'Escape') { setSelection([]); return }
    if (key === 'h') { setTool('hand'); return }
    if (editable && KEY_TOOLS[key]) setTool(KEY_TOOLS[key])
  })
  window.addEventListener('keyup', (event) => {
    if (event.key === ' ') { spaceDown = false; delete root.dataset.space }
  })
  window.addEventListener('blur', () => { spaceDown = false; delete root.dataset.space })

  // ------------------------------------------------------------------ start
  function setEditable (value) {
    editable = Boolean(value) && canEdit
    if (!editable) {
      finishTextEdit()
      gesture = null
      tool = 'hand'
      root.dataset.tool = tool
      if (toolbarEl) toolbarEl.hidden = true
    }
    drawOverlay()
  }

  applyView()
  markAll()

  return {
    undoManager,
    get editable () { return editable },
    setEditable,
    setTool,
    get tool () { return tool },
    get selection () { return [...selection] },
    setSelection,
    get view () { return { ...view } },
    setView ({ x = view.x, y = view.y, zoom = view.zoom } = {}) {
      Object.assign(view, { x, y, zoom: Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom)) })
      applyView()
    },
    localOrigin,
    plainShapes () {
      return [...yshapes.keys()].sort().map((id) => {
        const ymap = yshapes.get(id)
        const out = { id }
        if (!(ymap instanceof Y.Map)) return out
        for (const key of [...ymap.keys()].sort()) {
          const value = ymap.get(key)
          out[key] = value instanceof Y.Array ? value.toArray() : value instanceof Y.Text ? value.toString() : value
        }
        return out
      })
    },
    cursorLabels: () => cursors.labels(),
  }
}
