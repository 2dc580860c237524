// Every page on a laptop and on a phone (issue 16): Debian's Chromium driven by
// playwright-core at 1366×900 and 390×844, each page checked with axe-core.
// Usage: node pages.cjs BASE_URL EMAIL PASSWORD PAGES_JSON
//   PAGES_JSON: [{"path": "/portfolio", "status": 200, "name": "portfolio"}, ...]; a page
//   with "public": true is opened without logging in.
// Env: NODE_PATH (a node_modules with playwright-core and axe-core), LAER_TEST_CHROMIUM
// (default /usr/bin/chromium), LAER_SCREENSHOTS (a directory: save a screenshot of each
// page at each size as NAME.png and NAME-phone.png).
// Fails when a page answers another status than expected, scrolls sideways, or has an
// accessibility violation axe rates serious or critical. Prints "pages: all passed".
'use strict'
const fs = require('fs')
const path = require('path')
const { chromium } = require('playwright-core')

const [base, email, password, pagesJson] = process.argv.slice(2)
if (!pagesJson) {
  console.error('usage: node pages.cjs BASE_URL EMAIL PASSWORD PAGES_JSON')
  process.exit(2)
}
const pages = JSON.parse(pagesJson)
const shots = process.env.LAER_SCREENSHOTS || ''
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const sizes = [
  { name: 'laptop', suffix: '', width: 1366, height: 900 },
  { name: 'phone', suffix: '-phone', width: 390, height: 844 }
]

async function login (page) {
  await page.goto(`${base}/login`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/login'),
    page.getByRole('button', { name: 'Log in' }).click()
  ])
}

async function main () {
  const browser = await chromium.launch({
    executablePath: process.env.LAER_TEST_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox']
  })
  const failures = []
  try {
    for (const size of sizes) {
      // axe is injected as a script of its own: the pages' policy allows none inline.
      const context = await browser.newContext({ viewport: { width: size.width, height: size.height }, bypassCSP: true })
      const anonymous = await browser.newContext({ viewport: { width: size.width, height: size.height }, bypassCSP: true })
      const page = await context.newPage()
      const stranger = await anonymous.newPage()
      await login(page)
      for (const p of pages) {
        const tab = p.public ? stranger : page
        const response = await tab.goto(`${base}${p.path}`)
        const where = `${p.path} (${size.name})`
        if (response.status() !== (p.status || 200)) failures.push(`${where}: status ${response.status()}, expected ${p.status || 200}`)
        const type = response.headers()['content-type'] || ''
        if (!type.startsWith('text/html')) failures.push(`${where}: answered ${type}, not a page`)
        const wide = await tab.evaluate(() => document.documentElement.scrollWidth)
        if (wide > size.width) failures.push(`${where}: ${wide} pixels wide, scrolls sideways`)
        if (size.name === 'phone' && !p.public && (await tab.locator('header.top').count()) > 0) {
          // The navigation folds behind the menu button, and opens with it.
          const nav = tab.locator('header.top nav')
          if (await nav.isVisible()) failures.push(`${where}: the navigation is not folded`)
          await tab.locator('header.top button.menu').click()
          if (!(await nav.isVisible())) failures.push(`${where}: the menu does not open the navigation`)
          await tab.locator('header.top button.menu').click()
        }
        await tab.addScriptTag({ content: axeSource })
        const result = await tab.evaluate(async () => {
          // eslint-disable-next-line no-undef
          const r = await axe.run(document, { resultTypes: ['violations'] })
          return r.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\n').slice(0, 2).join(' '))
          }))
        })
        for (const v of result.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
          failures.push(`${where}: ${v.impact} ${v.id} (${v.help}): ${v.nodes.join(' | ')}`)
        }
        if (shots) {
          fs.mkdirSync(shots, { recursive: true })
          await tab.screenshot({ path: path.join(shots, `${p.name}${size.suffix}.png`), fullPage: true })
        }
        const minor = result.filter((v) => v.impact !== 'serious' && v.impact !== 'critical').map((v) => `${v.impact} ${v.id}`)
        console.log(`ok - ${where}: ${wide} px wide${minor.length ? `; minor: ${minor.join(', ')}` : ''}`)
      }
      await context.close()
      await anonymous.close()
    }
  } finally {
    await browser.close()
  }
  if (failures.length) {
    console.log(`not ok - ${failures.length} problems:\n${failures.join('\n')}`)
    process.exit(1)
  }
  console.log('pages: all passed')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
