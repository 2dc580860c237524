// The customer records a measurement through a share link, in a real browser (Debian's
// Chromium driven by playwright-core): where the team allowed it, the form is there and
// the figure shows on the plan at once; where it did not, there is no form and a post is
// refused. Usage: node share_measure.cjs BASE_URL ALLOWED_PATH REFUSED_PATH OUTCOME_ID
// Env: NODE_PATH, LAER_TEST_CHROMIUM, LAER_SCREENSHOTS, LAER_INTERNAL_WORDS (as e2e.cjs).
'use strict'
const fs = require('fs')
const path = require('path')
const { chromium } = require('playwright-core')

const [base, allowed, refused, outcomeId] = process.argv.slice(2)
if (!outcomeId) {
  console.error('usage: node share_measure.cjs BASE_URL ALLOWED_PATH REFUSED_PATH OUTCOME_ID')
  process.exit(2)
}
const shots = process.env.LAER_SCREENSHOTS || ''

class Failure extends Error {}
function check (condition, message) { if (!condition) throw new Failure(message) }
function equal (actual, expected, what) {
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
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

async function main () {
  const browser = await chromium.launch({
    executablePath: process.env.LAER_TEST_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic']
  })
  let page
  try {
    const context = await browser.newContext({ viewport: { width: 1300, height: 900 } })
    context.setDefaultTimeout(15000)
    page = await context.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    page.on('console', (m) => {
      if (m.type() === 'error' && m.text().includes('Content Security Policy')) errors.push(m.text())
    })
    const internalWords = JSON.parse(process.env.LAER_INTERNAL_WORDS || '[]')
    const words = (text) => ` ${text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ')} `
    const internalIn = (text) => internalWords.filter((w) => words(text).includes(words(w)))

    await step('where the team allowed it, the customer records a figure and sees it at once', async () => {
      const response = await page.goto(`${base}${allowed}`)
      equal(response.status(), 200, 'the status of the shared plan')
      const form = page.locator('#record form')
      check(await form.isVisible(), 'the form to send a figure shows')
      await form.getByLabel('Outcome').selectOption(outcomeId)
      await form.getByLabel('Figure').fill('42')
      await form.getByLabel('Where it comes from').fill('Our network inventory')
      await form.getByLabel('Note').fill('Counted <b>by hand</b>')
      await screenshot(page, 'share-measure-form')
      await Promise.all([
        page.waitForURL((url) => url.searchParams.get('recorded') === '1'),
        form.getByRole('button', { name: 'Send' }).click()
      ])
      const status = await page.locator('#record [role=status]').textContent()
      check(status.includes('your figure is recorded'), `the thanks: ${status}`)
      const monitor = (await page.locator('#monitor').innerText()).replace(/\s+/g, ' ')
      check(monitor.includes('Now 42%'), `the plan shows the new figure: ${monitor}`)
      const text = await page.locator('body').innerText()
      equal(internalIn(text).join(', '), '', 'internal words on the customer\'s page')
      await screenshot(page, 'share-measure-recorded')
    })

    await step('a figure left out is named and nothing is recorded', async () => {
      const form = page.locator('#record form')
      await form.getByLabel('Figure').fill('')
      await form.getByLabel('Note').fill('Counted again')
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        form.getByRole('button', { name: 'Send' }).click()
      ])
      equal(response.status(), 400, 'the status of a figure left out')
      await page.waitForLoadState()
      const problems = await page.locator('.form-problems').innerText()
      check(problems.includes('value') && problems.includes('expected a number'), `the problem: ${problems}`)
      equal(await page.locator('#record textarea[name=note]').inputValue(), 'Counted again', 'the form keeps what was typed')
    })

    await step('where the team did not allow it, there is no form and a post is refused', async () => {
      const response = await page.goto(`${base}${refused}`)
      equal(response.status(), 200, 'the status of the other shared plan')
      equal(await page.locator('#record').count(), 0, 'forms to send a figure')
      // A post made anyway, with a valid form token of this browser.
      const cookies = await context.cookies()
      const token = (cookies.find((c) => c.name === 'laer_plan_csrf') || {}).value
      check(token, 'the browser holds a form token from the first plan')
      const answer = await page.request.post(`${base}${refused}/measurements`, {
        form: { csrf: token, outcome: outcomeId, value: '99' },
        maxRedirects: 0
      })
      equal(answer.status(), 403, 'the status of a post where it is not allowed')
      check((await answer.text()).includes('does not take figures'), 'the refusal says why')
    })

    await step('no script errors and nothing blocked', async () => {
      equal(errors.join('; '), '', 'script errors and blocked resources')
    })
    console.log(`share-measure: all steps passed (${steps.length})`)
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
