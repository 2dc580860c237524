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
