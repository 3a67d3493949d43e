// The document page's title: editable inline by owners and editors (PATCH to the API), and
// kept live for everyone from the per-user socket's "document.renamed" events.
(function () {
  'use strict'
  const title = document.getElementById('doc-title')
  if (!title) return
  const id = title.dataset.documentId
  const editable = title.dataset.canRename === 'true'
  let saved = title.textContent.trim()

  function csrfToken () {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)
    return match ? decodeURIComponent(match[1]) : ''
  }

  function show (text) {
    saved = text
    if (document.activeElement !== title) title.textContent = text
    document.title = text + ' · Collab'
  }

  async function save () {
    const text = title.textContent.replace(/\s+/g, ' ').trim()
    if (!text) { title.textContent = saved; return }
    if (text === saved) return
    title.dataset.state = 'saving'
    try {
      const response = await fetch('/api/documents/' + id + '/', {
        method: 'PATCH',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
        body: JSON.stringify({ title: text })
      })
      if (!response.ok) throw new Error((await response.json()).message || response.status)
      show(text)
      title.dataset.state = 'saved'
    } catch (err) {
      title.textContent = saved
      title.dataset.state = 'error'
      title.title = 'Could not rename: ' + err.message
    }
  }

  if (editable) {
    title.setAttribute('contenteditable', 'plaintext-only')
    title.setAttribute('role', 'textbox')
    title.setAttribute('aria-label', 'Document title')
    title.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') { event.preventDefault(); title.blur() }
      if (event.key === 'Escape') { title.textContent = saved; title.blur() }
    })
    title.addEventListener('blur', save)
  }

  // Live renames by anyone (the server sends them to every member).
  window.collabLiveEvents(
    (event) => { if (event.type === 'document.renamed' && event.id === id) show(event.title) },
    (state) => { title.dataset.live = state }
  )
})()
