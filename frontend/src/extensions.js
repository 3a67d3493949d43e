// The Tiptap extensions of the text editor. The schema they define is what lives in the
// document's `default` XmlFragment (documented in docs/editor.md): change it only together
// with that document and the server's renderers.
import StarterKit from '@tiptap/starter-kit'
import { TaskItem, TaskList } from '@tiptap/extension-list'
import { TableKit } from '@tiptap/extension-table'
import Image from '@tiptap/extension-image'

// Schemes a link may point to; everything else (javascript:, data:, vbscript:, file:...)
// is refused by the link form and by the Link extension itself.
export const LINK_PROTOCOLS = ['http', 'https', 'mailto', 'tel']

export function isAllowedHref (href) {
  if (!href) return false
  // Browsers ignore ASCII whitespace and control characters inside a scheme ("java\nscript:").
  // eslint-disable-next-line no-control-regex
  const compact = String(href).replace(/[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u2029\u205f\u3000\ufeff]/g, '')
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(compact)
  if (!scheme) return /^[/?#.]/.test(compact) // a relative address
  return LINK_PROTOCOLS.includes(scheme[1].toLowerCase())
}

/** The schema's extensions, without the collaboration ones (which add no nodes or marks). */
export function contentExtensions () {
  return [
    StarterKit.configure({
      // Collaboration brings its own undo/redo (y-prosemirror's yUndoPlugin, which undoes
      // only this client's changes); ProseMirror's history would undo other people's edits.
      undoRedo: false,
      link: {
        openOnClick: false, // clicking places the caret; Ctrl/Cmd+click opens (editor.js)
        autolink: true,
        linkOnPaste: true,
        defaultProtocol: 'https',
        isAllowedUri: (url) => isAllowedHref(url),
        HTMLAttributes: { target: '_blank', rel: 'noopener noreferrer nofollow', class: null },
      },
    }),
    TaskList,
    TaskItem.configure({ nested: true }),
    TableKit.configure({ table: { resizable: false } }),
    // Uploaded images only (images.js): no base64 blobs in the document.
    Image.configure({ inline: false, allowBase64: false }),
  ]
}
