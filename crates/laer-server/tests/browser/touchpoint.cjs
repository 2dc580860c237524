// A CSM logs a meeting with the customer's executive team in a real browser and sees
// the engagement pillar and "since last week" change on the account page, and the
// health engine rescore the account (the portfolio's figure).
// Usage: node touchpoint.cjs BASE_URL ACCOUNT_ID CSM_EMAIL CSM_PASSWORD
// Env: NODE_PATH (a node_modules with playwright-core), LAER_TEST_CHROMIUM (default
// /usr/bin/chromium), LAER_SCREENSHOTS (a directory: save screenshots of the pages).
'use strict'
const fs = require('fs')
const path = require('path')
const { chromium } = require('playwright-core')

const [base, accountId, email, password] = process.argv.slice(2)
if (!password) {
  console.error('usage: node touchpoint.cjs BASE_URL ACCOUNT_ID CSM_EMAIL CSM_PASSWORD')
  process.exit(2)
}
const shots = process.env.LAER_SCREENSHOTS || ''

function check (condition, message) {
  if (!condition) throw new Error(message)
}

async function screenshot (page, name) {
  if (!shots) return
  fs.mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
}

/** The engagement pillar's score and the "Since last week" list, as shown. */
async function panel (page) {
  const pillars = await page.$$eval('#health .pillar', (ps) => ps.map((p) => p.textContent.replace(/\s+/g, ' ').trim()))
  const engagement = pillars.find((p) => p.startsWith('Engagement')) || ''
  const changes = await page.$$eval('#changes li', (lis) => lis.map((li) => li.textContent.replace(/\s+/g, ' ').trim()))
  return { engagement: Number((engagement.match(/(\d+)$/) || [])[1]), changes }
}

/** The account's health as the portfolio shows it: the engine's stored score. */
async function portfolioHealth (page) {
  await page.goto(`${base}/portfolio?owner=all`)
  const row = page.locator(`#portfolio tbody tr:has(a[href="/accounts/${accountId}"])`)
  return (await row.locator('td.health').textContent()).trim()
}

async function main () {
  const browser = await chromium.launch({
    executablePath: process.env.LAER_TEST_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic']
  })
  try {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage()
    page.setDefaultTimeout(15000)
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text())
    })
    // Resources the pages ask for must load (a failed one is named by its address).
    page.on('response', (r) => {
      if (r.status() >= 400 && r.request().resourceType() !== 'document') errors.push(`${r.status()} ${r.url()}`)
    })

    await page.goto(`${base}/login`)
    await page.getByLabel('Email').fill(email)
    await page.getByLabel('Password').fill(password)
    await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.getByRole('button', { name: 'Log in' }).click()])
    const healthBefore = await portfolioHealth(page)

    await page.goto(`${base}/accounts/${accountId}`)
    const before = await panel(page)
    check(Number.isFinite(before.engagement), `an engagement score before: ${JSON.stringify(before)}`)
    console.log(`ok - before: engagement ${before.engagement}, since last week ${JSON.stringify(before.changes)}, portfolio ${healthBefore}`)

    await Promise.all([
      page.waitForURL((u) => u.pathname.endsWith('/touchpoints/new')),
      page.getByRole('link', { name: 'Log a touchpoint' }).click()
    ])
    await page.getByLabel('Kind').selectOption('meeting')
    // Today's first minute (UTC): in the past, and today whatever the hour the test runs.
    const now = `${new Date().toISOString().slice(0, 10)}T00:00`
    await page.getByLabel('When (UTC)').fill(now)
    await page.getByRole('checkbox', { name: 'executive' }).check()
    await page.getByRole('checkbox', { name: 'Dana Exec' }).check()
    await page.getByLabel('Summary').fill('Agreed the <b>security</b> roadmap with the board')
    await page.getByLabel('Next step').fill('Send the rollout plan')
    await screenshot(page, 'touchpoint-form')
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/accounts/${accountId}`),
      page.getByRole('button', { name: 'Save' }).click()
    ])
    const entry = page.locator('#timeline li', { hasText: 'Meeting with the executive team' }).first()
    check(await entry.isVisible(), 'the meeting is on the timeline')
    check((await entry.textContent()).includes('Agreed the <b>security</b> roadmap'), 'the summary shown as written, escaped')
    console.log('ok - the meeting is logged and on the timeline')

    const after = await panel(page)
    check(after.engagement > before.engagement, `engagement rose: ${before.engagement} → ${after.engagement}`)
    const executive = after.changes.find((c) => c.toLowerCase().includes('executive meeting'))
    check(executive && executive.startsWith('+') && / → 0$/.test(executive),
      `"since last week" shows the executive meeting: ${JSON.stringify(after.changes)}`)
    check(JSON.stringify(after.changes) !== JSON.stringify(before.changes), 'since last week changed')
    await screenshot(page, 'touchpoint-account')
    console.log(`ok - after: engagement ${after.engagement}, since last week ${JSON.stringify(after.changes)}`)

    // The engine rescores the account within seconds: the portfolio's stored figure moves.
    let healthAfter = healthBefore
    for (let i = 0; i < 20 && healthAfter === healthBefore; i++) {
      await page.waitForTimeout(500)
      healthAfter = await portfolioHealth(page)
    }
    check(healthAfter !== healthBefore, `the engine rescored the account: ${healthBefore} → ${healthAfter}`)
    console.log(`ok - the engine rescored: ${healthBefore} → ${healthAfter}`)
    check(errors.length === 0, `no errors in the browser: ${errors.join('; ')}`)
    console.log('touchpoint: all steps passed')
  } finally {
    await browser.close()
  }
}

main().catch((e) => {
  console.error(`not ok - ${e.message}`)
  process.exit(1)
})
