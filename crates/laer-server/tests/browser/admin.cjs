// Admin in a real browser: an admin invites a colleague from the People page; the
// colleague opens the one-time link, chooses a password and is logged in, and later
// logs in with it; the link works only once.
// Usage: node admin.cjs BASE_URL ADMIN_EMAIL ADMIN_PASSWORD
// Env: NODE_PATH (a node_modules with playwright-core), LAER_TEST_CHROMIUM (default
// /usr/bin/chromium), LAER_SCREENSHOTS (a directory: save screenshots of the pages).
// Prints "ok - STEP" per step and exits non-zero at the first failed assertion.
'use strict'
const fs = require('fs')
const path = require('path')
const { chromium } = require('playwright-core')

const [base, adminEmail, adminPassword] = process.argv.slice(2)
if (!adminPassword) {
  console.error('usage: node admin.cjs BASE_URL ADMIN_EMAIL ADMIN_PASSWORD')
  process.exit(2)
}
const shots = process.env.LAER_SCREENSHOTS || ''
const colleague = { email: 'kim@example.com', name: 'Kim Lee', password: 'a password of Kim' }

class Failure extends Error {}

function check (condition, message) {
  if (!condition) throw new Failure(message)
}

function equal (actual, expected, what) {
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
}

async function screenshot (page, name) {
  if (!shots) return
  fs.mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
}

async function login (page, email, password) {
  await page.goto(`${base}/login`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/login'),
    page.getByRole('button', { name: 'Log in' }).click()
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
    const adminContext = await browser.newContext({ viewport: { width: 1400, height: 900 } })
    adminContext.setDefaultTimeout(15000)
    page = await adminContext.newPage()
    const pageErrors = []
    page.on('pageerror', (e) => pageErrors.push(String(e)))
    let link

    await step('the admin opens People from the header', async () => {
      await login(page, adminEmail, adminPassword)
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/admin/people'),
        page.locator('header nav').getByRole('link', { name: 'Admin' }).click()
      ])
      equal((await page.locator('main h1').first().textContent()).trim(), 'People', 'the heading')
    })

    await step('an invitation without an email is refused at the field', async () => {
      const form = page.locator('#invite form')
      await form.getByLabel('Name').fill(colleague.name)
      await form.getByLabel('Email').fill('')
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/admin/people/invite'),
        form.getByRole('button', { name: 'Invite' }).click()
      ])
      await page.locator('.form-problems').waitFor()
      check((await page.locator('#invite .field-problem').textContent()).includes('an email address is needed'), 'the email field says why')
      equal(await page.locator('#invite form').getByLabel('Name').inputValue(), colleague.name, 'the name typed is kept')
    })

    await step('the admin invites a colleague and sees the link once', async () => {
      const form = page.locator('#invite form')
      await form.getByLabel('Email').fill(colleague.email)
      await form.getByLabel('Role').selectOption('csm')
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/admin/people/invite'),
        form.getByRole('button', { name: 'Invite' }).click()
      ])
      link = await page.locator('#password-link').inputValue()
      check(link.startsWith(`${base}/password/`), `a link to this server: ${link}`)
      check((await page.locator('main').innerText()).includes('No email server is configured'), 'the admin is told to send it')
      await screenshot(page, 'admin-invitation-link')
      await page.goto(`${base}/admin/people`)
      const row = page.locator('#people tr', { hasText: colleague.email })
      check((await row.innerText()).includes('invited'), 'listed as invited')
      await screenshot(page, 'admin-people')
    })

    await step('the colleague sets a password through the link and is logged in', async () => {
      const theirs = await browser.newContext({ viewport: { width: 1400, height: 900 } })
      theirs.setDefaultTimeout(15000)
      const them = await theirs.newPage()
      them.on('pageerror', (e) => pageErrors.push(String(e)))
      await them.goto(link)
      equal((await them.locator('main h1').textContent()).trim(), 'Welcome to laer', 'the link page')
      equal(await them.getByLabel('Name').inputValue(), colleague.name, 'the name, filled in')
      await them.locator('input[name=password]').fill(colleague.password)
      await them.locator('input[name=password_again]').fill(colleague.password)
      await screenshot(them, 'admin-set-password')
      await Promise.all([
        them.waitForURL((url) => url.pathname === '/portfolio'),
        them.getByRole('button', { name: 'Save and log in' }).click()
      ])
      check((await them.locator('header .who').innerText()).includes(`${colleague.name} · CSM`), 'logged in as the colleague')

      await Promise.all([
        them.waitForURL((url) => url.pathname === '/login'),
        them.getByRole('button', { name: 'Log out' }).click()
      ])
      await login(them, colleague.email, colleague.password)
      equal(new URL(them.url()).pathname, '/portfolio', 'logged in again with the new password')

      const again = await them.goto(link)
      equal(again.status(), 404, 'the link works once')
      await theirs.close()
    })

    await step('the admin sees the colleague active, and the audit log says who did what', async () => {
      await page.goto(`${base}/admin/people`)
      const row = page.locator('#people tr', { hasText: colleague.email })
      check((await row.innerText()).includes('active'), 'listed as active')
      await page.locator('nav.admin-tabs').getByRole('link', { name: 'Audit log' }).click()
      await page.waitForURL((url) => url.pathname === '/admin/audit')
      const log = await page.locator('#audit').innerText()
      check(log.includes('user.invited') && log.includes('user.password_set'), 'both changes logged')
      await screenshot(page, 'admin-audit')
    })

    await step('the admin creates an API token, shown once', async () => {
      await page.locator('nav.admin-tabs').getByRole('link', { name: 'API tokens and write keys' }).click()
      await page.waitForURL((url) => url.pathname === '/admin/keys')
      const form = page.locator('#tokens form')
      await form.getByLabel('Name').fill('CRM sync')
      await form.getByLabel('Role').selectOption('csm')
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/admin/keys/tokens'),
        form.getByRole('button', { name: 'Create token' }).click()
      ])
      const token = await page.locator('#secret').inputValue()
      check(token.startsWith('lt_'), `a token: ${token}`)
      await screenshot(page, 'admin-keys')
      await page.goto(`${base}/admin/keys`)
      check(!(await page.content()).includes(token), 'not shown again')
      check((await page.locator('#tokens').innerText()).includes('CRM sync'), 'listed')
    })

    equal(pageErrors.join('; '), '', 'script errors')
    console.log(`admin: all steps passed (${steps.length})`)
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
