// The board's toolbar (editors only): tools, colours, stroke width, fill and actions.

export const TOOLS = [
  { id: 'select', label: 'Select', key: 'V', icon: '↖' },
  { id: 'hand', label: 'Hand (pan)', key: 'H', icon: 'hand' },
  { id: 'pen', label: 'Pen', key: 'P', icon: '✎' },
  { id: 'rect', label: 'Rectangle', key: 'R', icon: '▭' },
  { id: 'ellipse', label: 'Ellipse', key: 'O', icon: '◯' },
  { id: 'line', label: 'Line', key: 'L', icon: '╱' },
  { id: 'arrow', label: 'Arrow', key: 'A', icon: '→' },
  { id: 'text', label: 'Text', key: 'T', icon: 'T' },
  { id: 'sticky', label: 'Sticky note', key: 'S', icon: 'sticky' },
  { id: 'eraser', label: 'Eraser', key: 'E', icon: '⌫' },
]

const ACTIONS = [
  { id: 'undo', label: 'Undo (Ctrl+Z)', icon: '↶' },
  { id: 'redo', label: 'Redo (Ctrl+Shift+Z)', icon: '↷' },
  { id: 'duplicate', label: 'Duplicate (Ctrl+D)', icon: 'copy' },
  { id: 'forward', label: 'Bring forward', icon: '⬆' },
  { id: 'back', label: 'Send backward', icon: '⬇' },
  { id: 'delete', label: 'Delete (Del)', icon: 'trash' },
]

// Icons drawn as SVG where fonts may lack the symbol (emoji are missing on many systems).
const ICON_PATHS = {
  hand: 'M7 11V5.5a1.5 1.5 0 0 1 3 0V10M10 9.5V4a1.5 1.5 0 0 1 3 0v6M13 9.5V5a1.5 1.5 0 0 1 3 0v6M16 10V7.5a1.5 1.5 0 0 1 3 0V14a6 6 0 0 1-6 6h-1.5a6 6 0 0 1-4.7-2.3L4 14.5a1.5 1.5 0 0 1 2.3-1.9L7 13.5',
  sticky: 'M4 4h16v11l-5 5H4zM15 20v-5h5',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  trash: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6',
}

function button (attrs, text) {
  const node = document.createElement('button')
  node.type = 'button'
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value)
  if (ICON_PATHS[text]) {
    node.innerHTML = `<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"><path d="${ICON_PATHS[text]}"/></svg>`
  } else node.textContent = text
  return node
}

/**
 * style: {stroke, fill, strokeWidth}; handlers: onTool(id), onStyle(partial), onAction(id).
 * Returns {setTool(id), setStyle(style), refresh({canUndo, canRedo, hasSelection})}.
 */
export function mountToolbar (container, { tool, style, onTool, onStyle, onAction }) {
  const tools = document.createElement('div')
  tools.className = 'board-toolbar__group'
  for (const t of TOOLS) {
    const b = button({ 'data-tool': t.id, title: `${t.label} (${t.key})`, 'aria-label': t.label, 'aria-pressed': 'false' }, t.icon)
    b.addEventListener('click', () => onTool(t.id))
    tools.append(b)
  }

  const styles = document.createElement('div')
  styles.className = 'board-toolbar__group'
  const stroke = Object.assign(document.createElement('input'), { type: 'color', title: 'Stroke colour', value: style.stroke })
  stroke.setAttribute('aria-label', 'Stroke colour')
  stroke.dataset.style = 'stroke'
  stroke.addEventListener('input', () => onStyle({ stroke: stroke.value }))
  const fillOn = Object.assign(document.createElement('input'), { type: 'checkbox', title: 'Fill shapes' })
  fillOn.dataset.style = 'fill-on'
  const fill = Object.assign(document.createElement('input'), { type: 'color', title: 'Fill colour', value: style.fill === 'none' ? '#ffd43b' : style.fill })
  fill.setAttribute('aria-label', 'Fill colour')
  fill.dataset.style = 'fill'
  const fillLabel = document.createElement('label')
  fillLabel.className = 'board-toolbar__fill'
  fillLabel.append(fillOn, document.createTextNode(' Fill '))
  const emitFill = () => onStyle({ fill: fillOn.checked ? fill.value : 'none' })
  fillOn.addEventListener('change', emitFill)
  fill.addEventListener('input', () => { fillOn.checked = true; emitFill() })
  const width = document.createElement('select')
  width.title = 'Stroke width'
  width.setAttribute('aria-label', 'Stroke width')
  width.dataset.style = 'strokeWidth'
  for (const w of [1, 2, 4, 8, 16]) width.append(new Option(`${w}px`, String(w)))
  width.addEventListener('change', () => onStyle({ strokeWidth: Number(width.value) }))
  styles.append(stroke, fillLabel, fill, width)

  const actions = document.createElement('div')
  actions.className = 'board-toolbar__group'
  const actionButtons = {}
  for (const a of ACTIONS) {
    const b = button({ 'data-action': a.id, title: a.label, 'aria-label': a.label }, a.icon)
    b.addEventListener('click', () => onAction(a.id))
    actionButtons[a.id] = b
    actions.append(b)
  }
  container.replaceChildren(tools, styles, actions)

  const api = {
    setTool (id) {
      for (const b of tools.querySelectorAll('[data-tool]')) {
        b.setAttribute('aria-pressed', String(b.dataset.tool === id))
      }
    },
    setStyle (s) {
      stroke.value = s.stroke
      fillOn.checked = s.fill !== 'none'
      if (s.fill !== 'none') fill.value = s.fill
      width.value = String(s.strokeWidth)
    },
    refresh ({ canUndo, canRedo, hasSelection }) {
      actionButtons.undo.disabled = !canUndo
      actionButtons.redo.disabled = !canRedo
      for (const id of ['duplicate', 'forward', 'back', 'delete']) actionButtons[id].disabled = !hasSelection
    },
  }
  api.setTool(tool)
  api.setStyle(style)
  return api
}
