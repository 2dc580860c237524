// Sends identify, group, track and page calls through Segment's official Node library
// (@segment/analytics-node) to a laer server. Usage: node send.cjs HOST WRITE_KEY
const { Analytics } = require('@segment/analytics-node')

async function main () {
  const [host, writeKey] = process.argv.slice(2)
  const analytics = new Analytics({ writeKey, host, flushAt: 1, maxRetries: 2 })
  const failures = []
  analytics.on('error', (err) => failures.push(String(err && (err.reason || err.message || err))))
  analytics.identify({ userId: 'node-user-1', traits: { email: 'lee@globex.example', name: 'Lee Node', team: 'sales' } })
  analytics.group({ userId: 'node-user-1', groupId: 'node-globex', traits: { name: 'Globex (Node)' } })
  for (let i = 0; i < 3; i++) {
    analytics.track({ userId: 'node-user-1', event: 'Dashboard Shared', properties: { value: 10 * (i + 1) } })
  }
  analytics.page({ userId: 'node-user-1', name: 'Settings' })
  await analytics.closeAndFlush({ timeout: 10000 })
  if (failures.length) {
    console.error('failed: ' + failures.join('; '))
    process.exit(1)
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
