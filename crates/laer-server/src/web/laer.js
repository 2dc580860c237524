// laer's pages work without JavaScript; this only adds what HTML cannot do alone.
// Buttons marked data-print open the browser's print dialog (print or save as PDF).
for (const button of document.querySelectorAll('[data-print]')) {
  button.addEventListener('click', () => window.print())
}
