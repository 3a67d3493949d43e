// The formatting toolbar: one button per command, with an aria-label, a tooltip naming the
// keyboard shortcut, aria-pressed for the formats that apply at the selection, and disabled
// when the command cannot run (or the editor is read-only). Arrow keys move between buttons
// (one tab stop for the whole toolbar).
import { normalizeHref } from './links.js'

const MAC = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform || '')
const MOD = MAC ? '⌘' : 'Ctrl'
const ALT = MAC ? '⌥' : 'Alt'
const keys = (combo) => combo.replace('Mod', MOD).replace('Alt', ALT)

// Icons (24x24, stroked), for the buttons whose meaning a glyph would not carry.
const svg = (body) => `<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${body}</svg>`
const ICONS = {
  link: svg('<path d="M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71"/><path d="M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"/>'),
  undo: svg('<path d="M3 7v6h6"/><path d="M21 17a9 9 0 0 0-15-6.7L3 13"/>'),
  redo: svg('<path d="M21 7v6h-6"/><path d="M3 17a9 9 0 0 1 15-6.7l3 2.7"/>'),
  'bullet-list': svg('<path d="M9 6h11M9 12h11M9 18h11"/><circle cx="4" cy="6" r="1"/><circle cx="4" cy="12" r="1"/><circle cx="4" cy="18" r="1"/>'),
  'ordered-list': svg('<path d="M10 6h11M10 12h11M10 18h11"/><path d="M4 6h1v4"/><path d="M4 10h2"/><path d="M6 18H4c0-1 2-2 2-3s-1-1.5-2-1"/>'),
  'task-list': svg('<rect x="3" y="4" width="6" height="6" rx="1"/><path d="m3 17 2 2 4-4"/><path d="M13 7h8M13 17h8"/>'),
  table: svg('<rect x="3" y="3" width="18" height="18" rx="2"/><path d="M3 9h18M3 15h18M9 3v18M15 3v18"/>'),
}

// id: data-command; label: aria-label; text: what the button shows; run(chain) adds the
// command to a chain; active(editor) (toggles only) says whether it applies here; when(editor),
// if given, must hold too for the button to be enabled.
export const GROUPS = [
  {
    label: 'History',
    buttons: [
      // Collaboration's undo/redo: y-prosemirror's UndoManager, which tracks only this
      // page's own changes, so another person's typing is never undone from here.
      { id: 'undo', label: 'Undo', text: '↶', shortcut: 'Mod+Z', run: (c) => c.undo() },
      { id: 'redo', label: 'Redo', text: '↷', shortcut: MAC ? 'Mod+Shift+Z' : 'Mod+Y', run: (c) => c.redo() },
    ],
  },
  {
    label: 'Text style',
    buttons: [
      { id: 'paragraph', label: 'Paragraph', text: '¶', shortcut: 'Mod+Alt+0', run: (c) => c.setParagraph(), active: (e) => e.isActive('paragraph') },
      { id: 'heading-1', label: 'Heading 1', text: 'H1', shortcut: 'Mod+Alt+1', run: (c) => c.toggleHeading({ level: 1 }), active: (e) => e.isActive('heading', { level: 1 }) },
      { id: 'heading-2', label: 'Heading 2', text: 'H2', shortcut: 'Mod+Alt+2', run: (c) => c.toggleHeading({ level: 2 }), active: (e) => e.isActive('heading', { level: 2 }) },
      { id: 'heading-3', label: 'Heading 3', text: 'H3', shortcut: 'Mod+Alt+3', run: (c) => c.toggleHeading({ level: 3 }), active: (e) => e.isActive('heading', { level: 3 }) },
    ],
  },
  {
    label: 'Formatting',
    buttons: [
      { id: 'bold', label: 'Bold', text: 'B', shortcut: 'Mod+B', run: (c) => c.toggleBold(), active: (e) => e.isActive('bold') },
      { id: 'italic', label: 'Italic', text: 'I', shortcut: 'Mod+I', run: (c) => c.toggleItalic(), active: (e) => e.isActive('italic') },
      { id: 'underline', label: 'Underline', text: 'U', shortcut: 'Mod+U', run: (c) => c.toggleUnderline(), active: (e) => e.isActive('underline') },
      { id: 'strike', label: 'Strikethrough', text: 'S', shortcut: 'Mod+Shift+S', run: (c) => c.toggleStrike(), active: (e) => e.isActive('strike') },
      { id: 'code', label: 'Inline code', text: '</>', shortcut: 'Mod+E', run: (c) => c.toggleCode(), active: (e) => e.isActive('code') },
      { id: 'link', label: 'Link', text: 'Link', shortcut: 'Mod+K', special: 'link', active: (e) => e.isActive('link') },
    ],
  },
  {
    label: 'Blocks',
    buttons: [
      { id: 'bullet-list', label: 'Bullet list', text: '•≡', shortcut: 'Mod+Shift+8', run: (c) => c.toggleBulletList(), active: (e) => e.isActive('bulletList') },
      { id: 'ordered-list', label: 'Numbered list', text: '1≡', shortcut: 'Mod+Shift+7', run: (c) => c.toggleOrderedList(), active: (e) => e.isActive('orderedList') },
      { id: 'task-list', label: 'Task list', text: '☑', shortcut: 'Mod+Shift+9', run: (c) => c.toggleTaskList(), active: (e) => e.isActive('taskList') },
      { id: 'blockquote', label: 'Quote', text: '❝', shortcut: 'Mod+Shift+B', run: (c) => c.toggleBlockquote(), active: (e) => e.isActive('blockquote') },
      { id: 'code-block', label: 'Code block', text: '{ }', shortcut: 'Mod+Alt+C', run: (c) => c.toggleCodeBlock(), active: (e) => e.isActive('codeBlock') },
      { id: 'horizontal-rule', label: 'Horizontal rule', text: '―', run: (c) => c.setHorizontalRule() },
      { id: 'image', label: 'Insert image', text: 'Img', special: 'image' },
    ],
  },
  {
    label: 'Table',
    buttons: [
      { id: 'table', label: 'Insert table', text: '⊞', run: (c) => c.insertTable({ rows: 3, cols: 3, withHeaderRow: true }), when: (e) => !e.isActive('table') },
      { id: 'add-row', label: 'Add row below', text: '+row', run: (c) => c.addRowAfter() },
      { id: 'delete-row', label: 'Delete row', text: '−row', run: (c) => c.deleteRow() },
      { id: 'add-column', label: 'Add column right', text: '+col', run: (c) => c.addColumnAfter() },
      { id: 'delete-column', label: 'Delete column', text: '−col', run: (c) => c.deleteColumn() },
      { id: 'delete-table', label: 'Delete table', text: '×⊞', run: (c) => c.deleteTable() },
    ],
  },
]

function el (tag, attrs = {}, children = []) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (key === 'text') node.textContent = value
    else node.setAttribute(key, value === true ? '' : value)
  }
  for (const child of children) node.append(child)
  return node
}

/** The link form: a small popover under the toolbar (no window.prompt). */
function createLinkForm (editor, onClose) {
  const input = el('input', {
    type: 'text', inputmode: 'url', name: 'href', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'https://example.com', 'aria-label': 'Link address',
  })
  const error = el('span', { class: 'link-form__error', role: 'alert' })
  const apply = el('button', { type: 'submit', text: 'Apply' })
  const remove = el('button', { type: 'button', 'data-action': 'remove', text: 'Remove link' })
  const cancel = el('button', { type: 'button', 'data-action': 'cancel', text: 'Cancel' })
  const form = el('form', { class: 'link-form', hidden: true, 'aria-label': 'Edit link' },
    [input, apply, remove, cancel, error])

  const close = (refocus = true) => {
    form.hidden = true
    error.textContent = ''
    if (refocus) editor.commands.focus()
    onClose()
  }
  const open = () => {
    const current = editor.getAttributes('link').href || ''
    input.value = current
    remove.hidden = !current
    error.textContent = ''
    form.hidden = false
    input.focus()
    input.select()
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const { href, error: problem } = normalizeHref(input.value)
    if (problem) {
      error.textContent = problem
      input.focus()
      return
    }
    if (!href) {
      editor.chain().focus().extendMarkRange('link').unsetLink().run()
      close(false)
      return
    }
    const { empty } = editor.state.selection
    if (empty && !editor.isActive('link')) {
      // Nothing selected: insert the address itself as the link text.
      editor.chain().focus().insertContent({
        type: 'text', text: href, marks: [{ type: 'link', attrs: { href } }],
      }).run()
    } else {
      editor.chain().focus().extendMarkRange('link').setLink({ href }).run()
    }
    close(false)
  })
  remove.addEventListener('click', () => {
    editor.chain().focus().extendMarkRange('link').unsetLink().run()
    close(false)
  })
  cancel.addEventListener('click', () => close())
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault()
      close()
    }
  })
  return { form, open, close, get isOpen () { return !form.hidden } }
}

/**
 * Fill `container` with the toolbar for `editor`; returns {refresh, openLinkForm}.
 * Call refresh() after changing the editor's editability (transactions refresh it anyway).
 */
export function mountToolbar (container, editor, options = {}) {
  container.classList.add('editor-toolbar')
  container.setAttribute('role', 'toolbar')
  container.setAttribute('aria-label', 'Formatting')
  container.setAttribute('aria-controls', 'editor')
  container.replaceChildren()

  const buttons = []
  let linkForm = null
  const openLinkForm = () => {
    if (!editor.isEditable) return false
    linkForm.open()
    return true
  }

  for (const group of GROUPS) {
    const groupEl = el('div', { class: 'editor-toolbar__group', role: 'group', 'aria-label': group.label })
    for (const spec of group.buttons) {
      const title = spec.shortcut ? `${spec.label} (${keys(spec.shortcut)})` : spec.label
      const button = el('button', {
        type: 'button',
        class: 'editor-toolbar__button',
        'data-command': spec.id,
        'aria-label': spec.label,
        title,
        tabindex: '-1',
        text: ICONS[spec.id] ? null : spec.text,
      })
      if (ICONS[spec.id]) {
        // Static markup from ICONS above, never from the document or the network.
        const template = document.createElement('template')
        template.innerHTML = ICONS[spec.id]
        button.append(template.content)
      }
      if (spec.active) button.setAttribute('aria-pressed', 'false')
      // Keep the editor's selection and focus: act on mousedown's default being suppressed.
      button.addEventListener('mousedown', (event) => event.preventDefault())
      button.addEventListener('click', () => {
        if (!editor.isEditable) return
        if (spec.special === 'link') {
          if (linkForm.isOpen) linkForm.close()
          else openLinkForm()
          return
        }
        if (spec.special === 'image') {
          if (options.onImage) options.onImage()
          return
        }
        spec.run(editor.chain().focus()).run()
      })
      buttons.push({ spec, button })
      groupEl.append(button)
    }
    container.append(groupEl)
  }
  linkForm = createLinkForm(editor, () => refresh())
  container.append(linkForm.form)
  if (buttons.length) buttons[0].button.tabIndex = 0

  // Roving focus: one tab stop, arrows/Home/End move within the toolbar.
  container.addEventListener('keydown', (event) => {
    if (event.target.closest('.link-form')) return
    const enabled = buttons.map((b) => b.button).filter((b) => !b.disabled)
    const index = enabled.indexOf(document.activeElement)
    if (index < 0) return
    let next = null
    if (event.key === 'ArrowRight') next = enabled[(index + 1) % enabled.length]
    else if (event.key === 'ArrowLeft') next = enabled[(index - 1 + enabled.length) % enabled.length]
    else if (event.key === 'Home') next = enabled[0]
    else if (event.key === 'End') next = enabled[enabled.length - 1]
    if (!next) return
    event.preventDefault()
    for (const b of buttons) b.button.tabIndex = -1
    next.tabIndex = 0
    next.focus()
  })

  let scheduled = false
  function refresh () {
    scheduled = false
    const editable = editor.isEditable
    container.hidden = !editable
    if (!editable && linkForm.isOpen) linkForm.close(false)
    for (const { spec, button } of buttons) {
      const on = editable && Boolean(spec.active && spec.active(editor))
      // A format that applies here stays clickable (to show it, and to toggle it off).
      let can = editable && (!spec.when || spec.when(editor))
      if (can && spec.run && !on) {
        try {
          can = spec.run(editor.can().chain()).run()
        } catch {
          can = false
        }
      }
      button.disabled = !can
      if (spec.active) {
        button.setAttribute('aria-pressed', on ? 'true' : 'false')
        button.classList.toggle('is-active', on)
      }
    }
    // Keep the tab stop on an enabled button.
    const stop = buttons.find((b) => b.button.tabIndex === 0)
    if (!stop || stop.button.disabled) {
      for (const b of buttons) b.button.tabIndex = -1
      const first = buttons.find((b) => !b.button.disabled)
      if (first) first.button.tabIndex = 0
    }
  }
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    requestAnimationFrame(refresh)
  }
  editor.on('transaction', schedule)
  editor.on('focus', schedule)
  editor.on('blur', schedule)
  refresh()
  return { refresh, openLinkForm, linkForm }
}
