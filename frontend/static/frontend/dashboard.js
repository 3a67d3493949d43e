// Live dashboard: one per-user socket (/ws/me) pushes only what changed; rows are updated,
// added (from <template id="document-row-template">) or removed in place, and a short
// notification is shown. Without JavaScript the dashboard is a normal page.
(function () {
  'use strict'
  const container = document.getElementById('documents')
  if (!container || !container.dataset.liveUrl) return
  const notifications = document.getElementById('notifications')

  function notify (text) {
    if (!notifications || !text) return
    const item = document.createElement('div')
    item.className = 'notification'
    item.textContent = text
    notifications.appendChild(item)
    setTimeout(() => item.remove(), 8000)
  }

  function rowFor (id) {
    return document.getElementById('doc-' + id)
  }

  function fill (row, doc) {
    row.id = 'doc-' + doc.id
    row.dataset.documentId = doc.id
    row.querySelectorAll('[data-field]').forEach((el) => {
      const value = doc[el.dataset.field]
      if (value === undefined || value === null) return
      el.textContent = String(value)
    })
    row.querySelectorAll('[data-href]').forEach((el) => {
      if (doc.url) el.setAttribute('href', doc.url)
    })
  }

  function addRow (doc) {
    const template = document.getElementById('document-row-template')
    const list = container.querySelector('[data-rows]') || container.querySelector('tbody')
    if (!template || !list) return
    const row = template.content.firstElementChild.cloneNode(true)
    fill(row, doc)
    list.prepend(row)
    const empty = container.querySelector('[data-empty]')
    if (empty) empty.remove()
  }

  const handlers = {
    'document.shared' (event) {
      const doc = event.document || {}
      const row = rowFor(doc.id)
      if (row) fill(row, doc)
      else addRow(doc)
      notify((doc.owner_name || 'Someone') + ' shared “' + (doc.title || 'a document') + '” with you')
    },
    'document.renamed' (event) {
      const row = rowFor(event.id)
      if (row) fill(row, { id: event.id, title: event.title })
    },
    'document.removed' (event) {
      const row = rowFor(event.id)
      if (row) {
        const title = (row.querySelector('[data-field="title"]') || {}).textContent
        row.remove()
        notify('“' + (title || 'A document') + '” is no longer available to you')
      }
    }
  }

  window.collabLiveEvents(
    (event) => { const handle = handlers[event.type]; if (handle) handle(event) },
    (state) => { container.dataset.live = state }
  )
})()
