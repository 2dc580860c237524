// A day with laer in a real browser: Debian's Chromium driven by playwright-core.
// Usage: node e2e.cjs BASE_URL CSM_EMAIL CSM_PASSWORD VIEWER_EMAIL VIEWER_PASSWORD
// Env: NODE_PATH (a node_modules with playwright-core), LAER_TEST_CHROMIUM (default
// /usr/bin/chromium), LAER_SCREENSHOTS (a directory: save screenshots of the pages).
// Prints "ok - STEP" per step and exits non-zero at the first failed assertion.
'use strict'
const fs = require('fs')
const path = require('path')
const { chromium } = require('playwright-core')

const [base, csmEmail, csmPassword, viewerEmail, viewerPassword] = process.argv.slice(2)
if (!viewerPassword) {
  console.error('usage: node e2e.cjs BASE_URL CSM_EMAIL CSM_PASSWORD VIEWER_EMAIL VIEWER_PASSWORD')
  process.exit(2)
}
const shots = process.env.LAER_SCREENSHOTS || ''

class Failure extends Error {}

function check (condition, message) {
  if (!condition) throw new Failure(message)
}

function equal (actual, expected, what) {
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
}

/** "$12,345.50" or "-$1,200" as a number. */
function money (text) {
  const t = text.trim()
  const value = Number(t.replace(/[$,\s-]/g, ''))
  check(/^-?\$[\d,]+(\.\d\d)?$/.test(t) && Number.isFinite(value), `not an amount of money: ${JSON.stringify(text)}`)
  return t.startsWith('-') ? -value : value
}

function pathOf (page) {
  const url = new URL(page.url())
  return url.pathname + url.search
}

async function screenshot (page, name) {
  if (!shots) return
  fs.mkdirSync(shots, { recursive: true })
  // The pages test (pages.cjs) takes the pages as docs/ shows them; these are the day's.
  await page.screenshot({ path: path.join(shots, `day-${name}.png`), fullPage: true })
}

async function login (page, email, password) {
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/login'),
    page.getByRole('button', { name: 'Log in' }).click()
  ])
}

/** The portfolio table's rows: name, account href, phase, health, segment, ARR. */
async function portfolioRows (page) {
  return page.$$eval('#portfolio tbody tr', (trs) => trs
    .filter((tr) => tr.querySelector('a[href^="/accounts/"]'))
    .map((tr) => {
      const cell = (name) => (tr.querySelector(`td.${name}`) || { textContent: '' }).textContent.trim()
      const segment = tr.querySelector('td.account .segment')
      return {
        name: tr.querySelector('td.account a').textContent.trim(),
        href: tr.querySelector('td.account a').getAttribute('href'),
        phase: cell('phase'),
        // The score; the urgency beside it is for screen readers.
        health: cell('health').split(' ')[0],
        segment: segment ? segment.textContent.trim() : '–',
        arr: cell('arr')
      }
    }))
}

async function heading (page) {
  return (await page.locator('main h1').first().textContent()).trim()
}

async function submitFilters (page) {
  await Promise.all([
    page.waitForURL((url) => url.pathname === '/portfolio'),
    page.locator('form.filters').getByRole('button', { name: 'Show' }).click()
  ])
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
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true })
    context.setDefaultTimeout(15000)
    page = await context.newPage()
    const pageErrors = []
    page.on('pageerror', (e) => pageErrors.push(String(e)))
    // What the Content-Security-Policy blocked: nothing may be.
    const blocked = []
    const watchPolicy = (p) => p.on('console', (m) => {
      if (m.type() === 'error' && m.text().includes('Content Security Policy')) blocked.push(`${p.url()}: ${m.text()}`)
    })
    watchPolicy(page)
    const failedResources = []
    page.on('response', (r) => {
      const type = r.request().resourceType()
      if (r.status() >= 400 && type !== 'document') failedResources.push(`${r.status()} ${r.url()}`)
    })

    await step('a page without a session redirects to the login form', async () => {
      await page.goto(`${base}/portfolio`)
      equal(pathOf(page), '/login?next=/portfolio', 'the page after asking for the portfolio')
      await page.getByLabel('Email').waitFor()
      check(await page.getByLabel('Password').getAttribute('type') === 'password', 'the password field hides what is typed')
      await screenshot(page, 'login')
    })

    await step('a wrong password is refused', async () => {
      await page.getByLabel('Email').fill(csmEmail)
      await page.getByLabel('Password').fill('not the password')
      await page.getByRole('button', { name: 'Log in' }).click()
      await page.locator('p.error').waitFor()
      equal((await page.locator('p.error').textContent()).trim(), 'Wrong email or password.', 'the error')
      equal(new URL(page.url()).pathname, '/login', 'the page after a wrong password')
    })

    let mine
    await step('a CSM logs in and lands on their own accounts', async () => {
      await login(page, csmEmail, csmPassword)
      equal(new URL(page.url()).pathname, '/portfolio', 'the page after logging in')
      equal(await heading(page), 'My accounts', 'the portfolio heading')
      mine = await portfolioRows(page)
      check(mine.length > 0, 'the CSM has accounts in their book')
      const headerColor = await page.$eval('header.top', (h) => getComputedStyle(h).backgroundColor)
      equal(headerColor, 'rgb(18, 38, 63)', 'the navigation bar colour (the stylesheet is applied)')
      check(await page.locator('header.top nav a[href="/revenue"]').count() === 1, 'a CSM sees the Revenue link')
    })

    let everyone, segment, phase
    await step('filter by owner, segment and phase', async () => {
      await page.locator('select[name=owner]').selectOption({ label: 'Everyone' })
      await submitFilters(page)
      equal(await heading(page), 'All accounts', 'the heading for everyone')
      everyone = await portfolioRows(page)
      check(everyone.length > mine.length, `everyone has more accounts (${everyone.length}) than one CSM (${mine.length})`)
      check(mine.every((m) => everyone.some((e) => e.href === m.href)), 'the CSM\'s accounts are among everyone\'s')

      const segments = await page.$$eval('select[name=segment] option', (os) => os.map((o) => o.value).filter((v) => v))
      check(segments.length >= 2, `several segments to choose from: ${segments}`)
      // The segment of most accounts, so that a phase filter on top still finds some.
      const counts = segments.map((s) => [s, everyone.filter((r) => r.segment === s).length])
      segment = counts.sort((a, b) => b[1] - a[1])[0][0]
      await page.locator('select[name=segment]').selectOption(segment)
      await submitFilters(page)
      const url = new URL(page.url())
      equal(url.searchParams.get('owner'), 'all', 'the owner in the URL')
      equal(url.searchParams.get('segment'), segment, 'the segment in the URL')
      const rows = await portfolioRows(page)
      check(rows.length > 0 && rows.length < everyone.length, `the segment ${segment} narrows the list (${rows.length} of ${everyone.length})`)
      for (const r of rows) equal(r.segment, segment, `the segment of ${r.name}`)
      equal(rows.length, everyone.filter((r) => r.segment === segment).length, `the number of ${segment} accounts`)
      equal(await page.locator('select[name=segment]').inputValue(), segment, 'the form keeps the segment')

      phase = rows[0].phase
      await page.locator('select[name=phase]').selectOption(phase)
      await submitFilters(page)
      equal(new URL(page.url()).searchParams.get('phase'), phase, 'the phase in the URL')
      const both = await portfolioRows(page)
      check(both.length > 0, 'the segment and phase filters find the account they came from')
      for (const r of both) {
        equal(r.segment, segment, `the segment of ${r.name}`)
        equal(r.phase, phase, `the phase of ${r.name}`)
      }
      equal(both.length, rows.filter((r) => r.phase === phase).length, `the number of ${segment} accounts in ${phase}`)
      const badge = await page.locator('#portfolio tbody td.phase .badge').first().getAttribute('class')
      check(badge.includes(`phase-${phase}`), `the phase badge has its colour class: ${badge}`)
    })

    await step('search by part of an account name', async () => {
      // A word of a name that no external id (acct-0001) contains.
      let needle
      for (const r of everyone) {
        needle = r.name.split(/\s+/).find((w) => w.length >= 4 && /[^act0-9-]/i.test(w))
        if (needle) break
      }
      check(needle, 'an account name with a word to search for')
      await page.locator('select[name=segment]').selectOption('')
      await page.locator('select[name=phase]').selectOption('')
      await page.locator('form.filters').getByRole('searchbox').fill(needle.toUpperCase().slice(1))
      await submitFilters(page)
      const q = needle.toUpperCase().slice(1)
      equal(new URL(page.url()).searchParams.get('q'), q, 'the search in the URL')
      const found = await portfolioRows(page)
      const expected = everyone.filter((r) => r.name.toLowerCase().includes(q.toLowerCase()))
      check(found.length > 0, `the search for ${q} finds accounts`)
      for (const r of found) check(r.name.toLowerCase().includes(q.toLowerCase()), `${r.name} contains ${q}`)
      equal(found.map((r) => r.href).join(' '), expected.map((r) => r.href).join(' '), `the accounts matching ${q}`)
      equal(await page.locator('form.filters').getByRole('searchbox').inputValue(), q, 'the form keeps the search')
      await page.locator('form.filters').getByRole('searchbox').fill('')
      await submitFilters(page)
      equal((await portfolioRows(page)).length, everyone.length, 'without the search, every account again')
    })

    await step('sort by ARR, up and down', async () => {
      const arrHeader = page.locator('#portfolio thead th a', { hasText: 'ARR' })
      await Promise.all([page.waitForURL(/sort=arr/), arrHeader.click()])
      let url = new URL(page.url())
      equal(url.searchParams.get('desc'), null, 'the first click sorts ascending')
      equal(url.searchParams.get('owner'), 'all', 'sorting keeps the owner')
      check((await arrHeader.textContent()).includes('↑'), 'the header shows the ascending arrow')
      let arr = (await portfolioRows(page)).map((r) => money(r.arr))
      equal(arr.length, everyone.length, 'every account is sorted')
      for (let i = 1; i < arr.length; i++) check(arr[i - 1] <= arr[i], `ARR ascending at row ${i + 1}: ${arr[i - 1]} then ${arr[i]}`)
      await Promise.all([page.waitForURL(/desc=1/), arrHeader.click()])
      url = new URL(page.url())
      equal(url.searchParams.get('sort'), 'arr', 'the second click keeps the sort key')
      check((await arrHeader.textContent()).includes('↓'), 'the header shows the descending arrow')
      arr = (await portfolioRows(page)).map((r) => money(r.arr))
      for (let i = 1; i < arr.length; i++) check(arr[i - 1] >= arr[i], `ARR descending at row ${i + 1}: ${arr[i - 1]} then ${arr[i]}`)
      check(arr[0] > arr[arr.length - 1], 'the accounts differ in ARR')
      await screenshot(page, 'portfolio')
    })

    await step('download the portfolio as CSV', async () => {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator('form.filters a', { hasText: 'CSV' }).click()
      ])
      equal(download.suggestedFilename(), 'portfolio.csv', 'the file name')
      const text = fs.readFileSync(await download.path(), 'utf8')
      const lines = text.trim().split(/\r?\n/)
      equal(lines[0], 'external_id,name,phase,health,urgency,top_reason,segment,owner,arr,renewal_date,trend_90d,churn_90d,downsell_90d', 'the CSV header')
      equal(lines.length, everyone.length + 1, 'a CSV line per account and the header')
      equal(new URL(page.url()).pathname, '/portfolio', 'the download leaves the page where it was')
    })

    let account
    await step('open an account and see its charts', async () => {
      account = (await portfolioRows(page))[0]
      await Promise.all([
        page.waitForURL((url) => url.pathname === account.href),
        page.locator(`#portfolio a[href="${account.href}"]`).click()
      ])
      equal(await heading(page), account.name, 'the account page heading')
      const svgs = page.locator('figure.chart svg')
      const charts = await svgs.count()
      check(charts >= 3, `at least 3 charts on the account page, found ${charts}`)
      const titles = await page.$$eval('figure.chart svg', (ss) => ss.map((s) => (s.querySelector(':scope > title') || {}).textContent || ''))
      for (const [i, t] of titles.entries()) check(t.trim().length > 0, `chart ${i + 1} has a <title>`)
      for (let i = 0; i < charts; i++) {
        const box = await svgs.nth(i).boundingBox()
        check(box && box.width > 200 && box.height > 100, `chart ${i + 1} is drawn at a readable size: ${JSON.stringify(box)}`)
      }
      const contracts = await page.locator('#contracts tbody tr').count()
      check(contracts > 0, 'the contracts table has rows')
      const arr = money(await page.locator('.kpi', { hasText: 'ARR' }).locator('strong').textContent())
      equal(arr, money(account.arr), 'the account\'s ARR, as in the portfolio')
      await screenshot(page, 'account')
    })

    await step('read the account\'s health and set its phase by hand', async () => {
      const panel = page.locator('#health')
      check(await panel.isVisible(), 'the health panel shows')
      const drivers = await panel.locator('#drivers tbody tr').count()
      check(drivers > 0, `the drivers table has rows, found ${drivers}`)
      const points = await panel.locator('#drivers tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.querySelectorAll('td')[2].textContent)))
      const score = Number((await panel.locator('.health-score .badge').textContent()).trim().split(' ')[0])
      check(Math.abs(points.reduce((a, b) => a + b, 0) - score) <= 0.5 + 0.05 * points.length,
        `the drivers' points (${points}) add up to the score ${score}`)
      if (account.health !== '–') equal(String(score), account.health, 'the score, as in the portfolio')
      await panel.locator('summary', { hasText: 'Set the phase by hand' }).click()
      await panel.locator('select[name=phase]').selectOption('expand')
      await panel.locator('input[name=reason]').fill('Expansion LOI signed')
      await Promise.all([
        page.waitForURL((url) => url.pathname === account.href),
        panel.locator('button', { hasText: 'Set' }).click()
      ])
      const note = await page.locator('#health .note').textContent()
      check(note.includes('expand') && note.includes('Expansion LOI signed'), `the page says who set it and why: ${note}`)
      check((await page.locator('#health').textContent()).includes('set by hand'), 'the phase\'s reason says so')
      await page.locator('#health summary', { hasText: 'Set the phase by hand' }).click()
      await page.locator('#health select[name=phase]').selectOption('auto')
      await page.locator('#health input[name=reason]').fill('Back to the rules')
      await Promise.all([
        page.waitForURL((url) => url.pathname === account.href),
        page.locator('#health button', { hasText: 'Set' }).click()
      ])
      check(!(await page.locator('#health .note').count()), 'back to the rules: no note')
    })

    await step('open a chart\'s numbers', async () => {
      const figure = page.locator('figure.chart', { hasText: 'MRR history' })
      const table = figure.locator('details table')
      check(!(await table.isVisible()), 'the numbers are folded away at first')
      await figure.locator('summary', { hasText: 'The numbers' }).click()
      await table.waitFor({ state: 'visible' })
      check(await figure.locator('details').evaluate((d) => d.open), 'the disclosure is open')
      const rows = await table.locator('tbody tr').count()
      check(rows >= 12, `the MRR history table has a row per month, found ${rows}`)
      const last = await table.locator('tbody tr').last().locator('td').allTextContents()
      money(last[1])
    })

    await step('share the success plan with the customer, who reads it without a login, then revoke it', async () => {
      const internalWords = JSON.parse(process.env.LAER_INTERNAL_WORDS || '[]')
      check(internalWords.length > 10, 'the list of internal words comes from the core')
      const words = (text) => ` ${text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ')} `
      const internalIn = (text) => internalWords.filter((w) => words(text).includes(words(w)))
      await Promise.all([
        page.waitForURL((url) => url.pathname === `${account.href}/plan`),
        page.locator('main a', { hasText: 'Success plan' }).first().click()
      ])
      equal(await heading(page), `Success plan: ${account.name}`, 'the plan page heading')
      const outcomes = await page.$$eval('#outcomes tbody tr', (trs) => trs.map((tr) => tr.querySelector('td').textContent.trim()))
      const milestones = await page.$$eval('#milestones tbody tr', (trs) => trs.map((tr) => tr.querySelector('td').textContent.trim()))
      check(milestones.length > 0, 'the demo account has milestones')
      for (const id of ['plan', 'implement', 'monitor', 'optimize', 'share']) {
        check(await page.locator(`#${id}`).count() === 1, `the plan page has its ${id} section`)
      }
      await screenshot(page, 'plan-team')
      await Promise.all([
        page.waitForURL((url) => url.pathname === `${account.href}/plan/links`),
        page.getByRole('button', { name: 'Create a share link' }).click()
      ])
      const url = await page.locator('#share-url').inputValue()
      check(/^http:\/\/[^/]+\/plan\/sp_[0-9a-f]{64}$/.test(url), `the link's address: ${url}`)

      // The customer: a browser of their own, without the team's cookies.
      const customerContext = await browser.newContext({ viewport: { width: 1300, height: 900 } })
      const customer = await customerContext.newPage()
      const customerErrors = []
      customer.on('pageerror', (e) => customerErrors.push(String(e)))
      watchPolicy(customer)
      let response = await customer.goto(url)
      equal(response.status(), 200, 'the status of the shared plan')
      equal((await customer.locator('h1').textContent()).trim(), account.name, 'the shared plan names the account')
      check((await customer.title()).startsWith(account.name), `the title names the account: ${await customer.title()}`)
      equal(await customer.locator('meta[name=robots]').getAttribute('content'), 'noindex, nofollow', 'search engines keep out')
      const text = await customer.locator('body').innerText()
      for (const o of outcomes) check(text.includes(o), `the customer sees the outcome ${o}`)
      for (const m of milestones) check(text.includes(m), `the customer sees the milestone ${m}`)
      for (const section of ['Plan', 'Implement', 'Monitor', 'Optimize']) {
        check(await customer.locator('.pimo .step', { hasText: section }).count() === 1, `the ${section} section`)
      }
      equal(internalIn(text).join(', '), '', 'internal words on the customer\'s page')
      check(await customer.locator('#monitor figure.chart svg').count() === outcomes.length, 'a chart per outcome')
      equal((await customerContext.cookies()).length, 0, 'cookies the customer was given')
      const print = customer.getByRole('button', { name: 'Print / save as PDF' })
      check(await print.isVisible(), 'the print button shows on screen')
      // The button's handler comes from /static/laer.js (no inline script): it opens the
      // print dialog, here replaced by a counter.
      await customer.evaluate(() => { window.printed = 0; window.print = () => { window.printed += 1 } })
      await print.click()
      equal(await customer.evaluate(() => window.printed), 1, 'print dialogs opened by the button')
      await screenshot(customer, 'plan')
      await customer.emulateMedia({ media: 'print' })
      check(!(await print.isVisible()), 'the print button is not printed')
      await customer.emulateMedia({ media: 'screen' })

      await page.goto(`${base}${account.href}/plan#share`)
      const live = page.locator('#links tbody tr', { hasText: 'live' })
      equal(await live.count(), 1, 'live links')
      // Revoking asks first: dismissed, nothing happens; accepted, the link is revoked.
      let asked = ''
      page.once('dialog', (d) => { asked = d.message(); d.dismiss() })
      await live.getByRole('button', { name: 'Revoke' }).click()
      check(asked.includes('Revoke this link'), `revoking asks first: ${JSON.stringify(asked)}`)
      equal(await page.locator('#links tbody tr', { hasText: 'live' }).count(), 1, 'a dismissed revoke keeps the link')
      page.once('dialog', (d) => d.accept())
      await Promise.all([
        page.waitForURL((u) => u.pathname === `${account.href}/plan`),
        live.getByRole('button', { name: 'Revoke' }).click()
      ])
      check((await page.locator('#links tbody tr').first().textContent()).includes('revoked'), 'the link shows revoked')
      response = await customer.reload()
      equal(response.status(), 404, 'the status of a revoked link')
      const gone = await customer.locator('body').innerText()
      check(gone.includes('Not available') && !gone.includes(account.name), `the revoked link shows nothing of the plan: ${gone}`)
      response = await customer.goto(`${base}/plan/sp_${'0'.repeat(64)}`)
      equal(response.status(), 404, 'the status of an unknown link')
      equal(await customer.locator('body').innerText(), gone, 'an unknown link answers as a revoked one')
      equal(customerErrors.join('; '), '', 'script errors on the customer\'s page')
      await customerContext.close()
      await page.goto(`${base}${account.href}`)
    })

    await step('open Revenue from the navigation', async () => {
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/revenue'),
        page.locator('header.top nav a', { hasText: 'Revenue' }).click()
      ])
      equal(await heading(page), 'Revenue', 'the revenue heading')
      check(await page.locator('header.top nav a.active').textContent() === 'Revenue', 'the navigation marks Revenue')
      equal(await page.locator('figure.chart svg').count(), 4, 'charts on the revenue page')
      check(await page.locator('#segments tbody tr').count() > 0, 'the by-segment table has rows')
      for (const id of ['bridge-phase', 'bridge-csm']) {
        check(await page.locator(`#${id} tbody tr`).count() > 0, `the ${id} bridge has rows`)
        check((await page.locator(`#${id} tfoot tr`).first().textContent()).includes('Total'), `the ${id} bridge has a total`)
      }
      check((await page.locator('main .page-head p').textContent()).includes('NRR'), 'the headline names NRR')
      await screenshot(page, 'revenue')
      // A bar of the movements leads to the accounts behind it, which add up to it.
      // The tallest bar, where a click cannot miss.
      const bars = page.locator('figure.chart svg a')
      const heights = await bars.evaluateAll((as) => as.map((a) => a.querySelector('rect').getBBox().height))
      const bar = bars.nth(heights.indexOf(Math.max(...heights)))
      const href = await bar.getAttribute('href')
      const shown = (await bar.locator('title').textContent()).split(' = ')[1]
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/revenue/accounts'),
        bar.click()
      ])
      check((await heading(page)).endsWith('the accounts behind it'), `the drill-down of ${href}`)
      const total = money(await page.locator('#drill-total').textContent())
      const charted = Number(shown.replace(/[$,-]/g, '').replace(/k$/, '')) * (shown.endsWith('k') ? 1000 : 1)
      check(Math.abs(total - charted) <= (shown.endsWith('k') ? 50 : 0.5), `the accounts add up to the bar: ${total} vs ${shown}`)
      await page.goBack()
    })

    await step('open Renewals and switch between 30, 90 and 180 days', async () => {
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/renewals'),
        page.locator('header.top nav a', { hasText: 'Renewals' }).click()
      ])
      equal(await heading(page), 'My renewals', 'a CSM sees their own renewals first')
      equal((await page.locator('nav.tabs[aria-label=Whose] a.active').textContent()).trim(), 'Mine', 'the mine filter, visibly on')
      await Promise.all([
        page.waitForURL((url) => url.searchParams.get('mine') === '0'),
        page.locator('nav.tabs a', { hasText: 'Everyone\'s' }).click()
      ])
      equal(await heading(page), 'Renewals', 'everyone\'s renewals')
      equal((await page.locator('nav.tabs[aria-label=Window] a.active').textContent()).trim(), 'Next 90 days', 'the default window')
      const counts = {}
      for (const days of [30, 180, 90]) {
        await Promise.all([
          page.waitForURL((url) => url.searchParams.get('within') === String(days)),
          page.locator('nav.tabs a', { hasText: `Next ${days} days` }).click()
        ])
        equal((await page.locator('nav.tabs[aria-label=Window] a.active').textContent()).trim(), `Next ${days} days`, 'the active tab')
        const left = (await page.$$eval('#renewals tbody tr', (trs) => trs
          .filter((tr) => tr.querySelector('a'))
          .map((tr) => tr.querySelectorAll('td')[2].textContent.trim())))
          .map(Number)
        for (const d of left) check(d >= 0 && d <= days, `days left ${d} within ${days}`)
        for (let i = 1; i < left.length; i++) check(left[i - 1] <= left[i], 'renewals soonest first')
        const summary = await page.locator('main .page-head p').textContent()
        check(summary.startsWith(`${left.length} contracts renewing in the next ${days} days`), `the summary: ${summary}`)
        check(summary.includes('at risk $'), `the ARR at risk: ${summary}`)
        counts[days] = left.length
        if (days === 180) await screenshot(page, 'renewals')
      }
      check(counts[30] <= counts[90] && counts[90] <= counts[180], `longer windows hold more: ${JSON.stringify(counts)}`)
      check(counts[180] > 0, 'something renews within 180 days')
      // This quarter: every renewal's date is in it (or overdue).
      await Promise.all([
        page.waitForURL((url) => url.searchParams.has('quarter')),
        page.locator('nav.tabs a', { hasText: '(this quarter)' }).click()
      ])
      const quarter = new URL(page.url()).searchParams.get('quarter')
      const [year, q] = quarter.split('-Q').map(Number)
      const dates = await page.$$eval('#renewals tbody td.date', (tds) => tds.map((td) => td.textContent.trim()))
      const today = new Date().toISOString().slice(0, 10)
      for (const d of dates) {
        const inQuarter = Number(d.slice(0, 4)) === year && Math.floor((Number(d.slice(5, 7)) - 1) / 3) + 1 === q
        check(inQuarter || d < today, `${d} renews in ${quarter} or is overdue`)
      }
      check((await page.locator('main .page-head p').textContent()).includes(`renewing in ${quarter}`), 'the summary names the quarter')
    })

    await step('work a task in My work', async () => {
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/work'),
        page.locator('header.top nav a', { hasText: 'My work' }).click()
      ])
      equal(await heading(page), 'My work', 'the work heading')
      const before = await page.locator('li.task').count()
      check(before > 0, 'the demo playbooks filled the CSM\'s queue')
      // Priority: overdue first, then due within a week, then later.
      const dues = await page.$$eval('li.task', (ls) => ls.map((l) => l.classList.contains('overdue') ? 0 : l.classList.contains('soon') ? 1 : 2))
      for (let i = 1; i < dues.length; i++) check(dues[i - 1] <= dues[i], `overdue, then soon, then later: ${dues}`)
      const reasons = await page.$$eval('li.task p.reason', (ps) => ps.map((p) => p.textContent.trim()))
      for (const r of reasons) check(r && !/\(at (most|least)|\d\.\d{2}|_/.test(r), `a reason in words: ${JSON.stringify(r)}`)
      await screenshot(page, 'work')
      await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/work' && r.request().method() === 'GET'),
        page.locator('li.task').first().getByRole('button', { name: 'Done' }).click()
      ])
      await page.waitForLoadState('load')
      equal(await page.locator('li.task').count(), before - 1, 'the done task left the queue')
      // Undo brings it back.
      await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/work' && r.request().method() === 'GET'),
        page.locator('.notice').getByRole('button', { name: 'Undo' }).click()
      ])
      await page.waitForLoadState('load')
      equal(await page.locator('li.task').count(), before, 'undone: the task is back')
    })

    await step('log out', async () => {
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/login'),
        page.getByRole('button', { name: 'Log out' }).click()
      ])
      const cookies = await page.context().cookies()
      check(!cookies.some((c) => c.name === 'laer_session'), 'the session cookie is gone')
      await page.goto(`${base}/portfolio`)
      equal(pathOf(page), '/login?next=/portfolio', 'the portfolio after logging out')
      await page.goto(`${base}${account.href}`)
      equal(pathOf(page), `/login?next=${account.href}`, 'an account page after logging out')
    })

    await step('a viewer sees no revenue', async () => {
      await login(page, viewerEmail, viewerPassword)
      equal(pathOf(page), account.href, 'after logging in, the page that was asked for')
      await page.goto(`${base}/portfolio`)
      equal(await heading(page), 'All accounts', 'a viewer has no book of their own')
      check((await page.locator('header.top .who').textContent()).includes('Viewer'), 'the header names the role')
      equal(await page.locator('header.top nav a[href="/revenue"]').count(), 0, 'Revenue links in a viewer\'s navigation')
      equal(await page.locator('header.top nav a[href="/renewals"]').count(), 1, 'Renewals links in a viewer\'s navigation')
      const response = await page.goto(`${base}/revenue`)
      equal(response.status(), 403, 'the status of /revenue for a viewer')
      equal(await heading(page), 'Not allowed', 'the refusal heading')
      check((await page.locator('main').textContent()).includes('view_revenue'), 'the refusal names the permission view_revenue')
      await screenshot(page, 'forbidden')
      const csv = await page.request.get(`${base}/revenue.csv`)
      equal(csv.status(), 403, 'the status of /revenue.csv for a viewer')
    })

    await step('a forged logout is refused and changes nothing', async () => {
      await page.goto(`${base}/portfolio`)
      // A form like the page's own, without its CSRF token.
      const [response] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/logout'),
        page.evaluate(() => {
          const form = document.createElement('form')
          form.method = 'post'
          form.action = '/logout'
          document.body.appendChild(form)
          form.submit()
        })
      ])
      equal(response.status(), 403, 'the status of a logout without the token')
      await page.waitForLoadState()
      equal(await heading(page), 'Refused', 'the refusal heading')
      const forged = await page.request.post(`${base}/logout`, { form: { csrf: 'forged' }, maxRedirects: 0 })
      equal(forged.status(), 403, 'the status of a logout with a wrong token')
      const again = await page.goto(`${base}/portfolio`)
      equal(again.status(), 200, 'the portfolio after the forged logouts')
      equal(pathOf(page), '/portfolio', 'the session still works')
      equal(await heading(page), 'All accounts', 'the portfolio heading')
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/login'),
        page.getByRole('button', { name: 'Log out' }).click()
      ])
    })

    await step('no script errors and every resource loaded', async () => {
      equal(pageErrors.join('; '), '', 'script errors')
      equal(failedResources.join('; '), '', 'resources that failed to load')
      equal(blocked.join('; '), '', 'what the Content-Security-Policy blocked')
    })
    console.log(`e2e: all steps passed (${steps.length})`)
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
