// Images: uploaded to the server (which checks the type and who may write), then inserted as
// an image node pointing at the server's URL, which is served only to the document's members.

function csrfToken () {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)
  return match ? decodeURIComponent(match[1]) : ''
}

export async function uploadImage (documentId, file) {
  const body = new FormData()
  body.append('file', file)
  const response = await fetch(`/api/documents/${documentId}/images/`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrfToken() },
    body
  })
  let payload = {}
  try { payload = await response.json() } catch (e) { /* not JSON */ }
  if (!response.ok) throw new Error(payload.message || `upload failed (${response.status})`)
  return payload.url
}

/** Upload each image file and insert it at the selection (or at pos, for drops). */
export async function insertImages (editor, documentId, files, onError, pos = null) {
  for (const file of files) {
    if (!file.type.startsWith('image/')) continue
    try {
      const src = await uploadImage(documentId, file)
      const chain = editor.chain().focus()
      if (pos !== null) chain.insertContentAt(pos, { type: 'image', attrs: { src, alt: file.name } })
      else chain.setImage({ src, alt: file.name })
      chain.run()
    } catch (err) {
      onError(err.message)
    }
  }
}

/** editorProps handlers so pasting or dropping image files uploads them. */
export function imageDropAndPaste (getEditor, documentId, onError) {
  const images = (list) => Array.from(list || []).filter((f) => f.type.startsWith('image/'))
  return {
    handlePaste (view, event) {
      const files = images(event.clipboardData && event.clipboardData.files)
      if (!files.length || !view.editable) return false
      event.preventDefault()
      insertImages(getEditor(), documentId, files, onError)
      return true
    },
    handleDrop (view, event) {
      const files = images(event.dataTransfer && event.dataTransfer.files)
      if (!files.length || !view.editable) return false
      event.preventDefault()
      const at = view.posAtCoords({ left: event.clientX, top: event.clientY })
      insertImages(getEditor(), documentId, files, onError, at ? at.pos : null)
      return true
    }
  }
}
