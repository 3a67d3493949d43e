// The board page's export menu: SVG, PNG or JSON of the whole board or of my selection,
// rendered by the server from the stored document (GET /api/documents/<id>/content).
(function () {
  'use strict'
  const menu = document.getElementById('board-export')
  if (!menu) return
  const id = menu.dataset.documentId
  const title = (document.getElementById('doc-title') || {}).textContent || 'board'
  const safe = title.trim().replace(/[^A-Za-z0-9._ -]+/g, '_') || 'board'

  function selectedIds () {
    const board = window.board
    const state = board && board.provider && board.provider.awareness.getLocalState()
    return (state && Array.isArray(state.selection)) ? state.selection : []
  }

  menu.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-format]')
    if (!link) return
    const format = link.dataset.format
    let url = '/api/documents/' + id + '/content?format=' + format
    if (link.dataset.scope === 'selection') {
      const ids = selectedIds()
      if (!ids.length) {
        event.preventDefault()
        link.title = 'Select shapes first'
        return
      }
      url += '&ids=' + encodeURIComponent(ids.join(','))
    }
    link.href = url
    link.download = safe + (link.dataset.scope === 'selection' ? '-selection' : '') + '.' + format
  })
})()
