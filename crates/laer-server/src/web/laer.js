// laer's pages work without JavaScript; this only adds what HTML cannot do alone.
// Buttons marked data-print open the browser's print dialog (print or save as PDF).
for (const button of document.querySelectorAll('[data-print]')) {
  button.addEventListener('click', () => window.print())
}
// Selects marked data-autosubmit apply their form when changed (the form keeps a
// button for browsers without JavaScript).
for (const select of document.querySelectorAll('select[data-autosubmit]')) {
  select.addEventListener('change', () => select.form.submit())
}
// Issue 16, phones: the stylesheet folds the navigation and shows tables as cards only
// when this script runs (the "js" class); each cell is labelled with its column's heading.
document.documentElement.classList.add('js')
const menu = document.querySelector('header.top button.menu')
if (menu) {
  menu.addEventListener('click', () => {
    const open = menu.closest('header').classList.toggle('open')
    menu.setAttribute('aria-expanded', String(open))
  })
}
for (const table of document.querySelectorAll('table.data')) {
  const headings = [...table.querySelectorAll('thead tr:last-child th')].map((th) => th.textContent.trim())
  for (const row of table.querySelectorAll('tbody tr')) {
    let column = 0
    for (const cell of row.children) {
      const label = headings[column]
      if (label && !cell.hasAttribute('data-label') && !cell.hasAttribute('colspan')) cell.setAttribute('data-label', label)
      column += Number(cell.getAttribute('colspan') || 1)
    }
  }
}
// Buttons that destroy something (remove a milestone, revoke a link) ask first.
for (const button of document.querySelectorAll('button[data-confirm]')) {
  button.addEventListener('click', (event) => {
    if (!window.confirm(button.dataset.confirm)) event.preventDefault()
  })
}
