// Importing a CSV file in a real browser: Debian's Chromium driven by playwright-core.
// An admin uploads an accounts file with a bad row, sees the preview, imports it, and
// sees the failure by line and column with nothing written; then a good file imports.
// Usage: node import.cjs BASE_URL ADMIN_EMAIL ADMIN_PASSWORD
// Env: NODE_PATH (a node_modules with playwright-core), LAER_TEST_CHROMIUM (default
// /usr/bin/chromium), LAER_SCREENSHOTS (a directory: save screenshots of the pages).
// Prints "ok - STEP" per step and exits non-zero at the first failed assertion.
'use strict'
const fs = require('fs')
const path = require('path')
const { chromium } = require('playwright-core')

const [base, email, password] = process.argv.slice(2)
if (!password) {
  console.error('usage: node import.cjs BASE_URL ADMIN_EMAIL ADMIN_PASSWORD')
  process.exit(2)
}
const shots = process.env.LAER_SCREENSHOTS || ''

class Failure extends Error {}

function check (condition, message) {
  if (!condition) throw new Failure(message)
}

async function screenshot (page, name) {
  if (!shots) return
  fs.mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
}

const steps = []
async function step (name, body) {
  steps.push(name)
  await body()
  console.log(`ok - ${name}`)
}

/** Uploads `text` as a file of `kind`; lands on the preview. */
async function upload (page, kind, name, text) {
  await page.goto(`${base}/import`)
  await page.getByLabel('Kind').selectOption(kind)
  await page.getByLabel('CSV file').setInputFiles({ name, mimeType: 'text/csv', buffer: Buffer.from(text) })
  await Promise.all([
    page.waitForURL((url) => url.pathname.startsWith('/import/uploads/')),
    page.getByRole('button', { name: 'Upload and preview' }).click()
  ])
}

/** Imports the previewed upload and waits, on its self-reloading page, for the end. */
async function importAndWait (page, kind) {
  await Promise.all([
    page.waitForURL((url) => url.pathname.startsWith('/import/runs/')),
    page.getByRole('button', { name: `Import ${kind}` }).click()
  ])
  await page.locator('#outcome').waitFor({ timeout: 60000 })
}

async function main () {
  const browser = await chromium.launch({
    executablePath: process.env.LAER_TEST_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic']
  })
  let page
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } })
    context.setDefaultTimeout(15000)
    page = await context.newPage()
    const problems = []
    page.on('pageerror', (e) => problems.push(String(e)))
    page.on('console', (m) => {
      if (m.type() === 'error' && m.text().includes('Content Security Policy')) problems.push(m.text())
    })

    await step('an admin finds the import in the navigation', async () => {
      await page.goto(`${base}/login?next=/portfolio`)
      await page.getByLabel('Email').fill(email)
      await page.getByLabel('Password').fill(password)
      await Promise.all([
        page.waitForURL((url) => url.pathname !== '/login'),
        page.getByRole('button', { name: 'Log in' }).click()
      ])
      await Promise.all([
        page.waitForURL((url) => url.pathname.startsWith('/admin/')),
        page.locator('header nav').getByRole('link', { name: 'Admin' }).click()
      ])
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/import'),
        page.locator('nav.admin-tabs').getByRole('link', { name: 'CSV import' }).click()
      ])
      await screenshot(page, 'import')
    })

    const bad = 'id,account_name,date_of_birth\nA1,Acme,2020-01-01\nA2,Bolt,yesterday\nA3,Core,2021-05-06\n'
    await step('the preview shows the mapping and the bad row by line and column', async () => {
      await upload(page, 'accounts', 'accounts.csv', bad)
      const mapping = await page.locator('#mapping tbody tr').allInnerTexts()
      check(mapping[0].startsWith('id\texternal_id'), `id is read as external_id: ${mapping}`)
      check(mapping[1].startsWith('account_name\tname'), `account_name is read as name: ${mapping}`)
      const rows = await page.locator('#rows tbody tr').allInnerTexts()
      check(rows.length === 3, `three rows shown: ${rows}`)
      check(rows[0].endsWith('ok'), `line 2 is fine: ${rows[0]}`)
      check(rows[1].includes('line 3, column date_of_birth'), `line 3 names its column: ${rows[1]}`)
      await screenshot(page, 'import-preview')
    })

    await step('importing it fails naming the line and column, and writes nothing', async () => {
      await importAndWait(page, 'accounts')
      const outcome = await page.locator('#outcome').innerText()
      check(outcome.includes('Nothing was written'), `the outcome: ${outcome}`)
      const errors = await page.locator('#errors tbody tr').allInnerTexts()
      check(errors.length === 1 && errors[0].startsWith('3\tdate_of_birth\t'), `the rejected row: ${errors}`)
      await screenshot(page, 'import-failed')
      await page.goto(`${base}/portfolio`)
      const empty = await page.locator('main').innerText()
      check(!empty.includes('Acme'), 'no account of the file was written')
    })

    await step('a good file imports and shows in the history', async () => {
      await upload(page, 'accounts', 'accounts.csv', bad.replace('yesterday', '2019-02-03'))
      await importAndWait(page, 'accounts')
      const outcome = await page.locator('#outcome').innerText()
      check(outcome.includes('3 rows: 3 written'), `the outcome: ${outcome}`)
      await page.goto(`${base}/import`)
      const history = await page.locator('#history tbody tr').allInnerTexts()
      check(history.length === 2, `two imports in the history: ${history}`)
      check(history[0].includes('done') && history[1].includes('failed'), `newest first: ${history}`)
      await screenshot(page, 'import-history')
    })

    await step('no script errors and nothing blocked', async () => {
      check(problems.length === 0, problems.join('; '))
    })
    console.log(`import: all steps passed (${steps.length})`)
  } catch (e) {
    console.error(`FAILED at step "${steps[steps.length - 1]}": ${e instanceof Failure ? e.message : e.stack || e}`)
    if (page) {
      console.error(`page: ${page.url()}`)
      const text = await page.locator('body').innerText().catch(() => '')
      console.error(`page text: ${text.slice(0, 1500)}`)
    }
    process.exitCode = 1
  } finally {
    await browser.close()
  }
}

main().catch((e) => { console.error(e); process.exit(1) })
