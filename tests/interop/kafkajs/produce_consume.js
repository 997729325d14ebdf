// Interop: kafkajs 2.2.4 against a running runnel (ctest interop_kafkajs).
//
//   node produce_consume.js <bootstrap host:port>
//
// Admin: createTopics with configs (3 partitions; again: false), fetchTopicMetadata,
// describeConfigs, fetchTopicOffsets, fetchTopicOffsetsByTimestamp, deleteTopics. Producers:
// send with keys (some null), values (some empty or null), headers and timestamps, acks -1 and
// 1, no compression and GZIP (kafkajs' built-in codec; the others need plugins), an idempotent
// producer, sendBatch over two topics. Reading back: every record of every partition through
// kafkajs' own Fetch (its cluster and broker objects, no group), checked exactly — key, value,
// headers, timestamp, dense offsets — and again through a group consumer (consumer.run). Should
// the broker not advertise the group APIs, the run says so in a "NOT RUN:" line for that part
// and the rest still must pass. Exit 0 only if every check
// passed; failures print "FAILED:" lines. Started by run_with_broker.py.
'use strict'

const path = require('path')

let kafkajs
try {
  kafkajs = require(path.join(__dirname, 'node_modules', 'kafkajs'))
} catch (e) {
  console.log(`FAILED: kafkajs is not installed in ${__dirname}/node_modules (scripts/setup.sh ` +
    `installs it with npm ci): ${e.message}`)
  process.exit(1)
}
const { Kafka, CompressionTypes, ConfigResourceTypes, logLevel } = kafkajs

const TOPIC = 'js.data'
const GZIP_TOPIC = 'js.gzip'
const PARTITIONS = 3
const TIMEOUT_MS = 30000
// Group APIs a kafkajs consumer needs: OffsetCommit, OffsetFetch, FindCoordinator, JoinGroup,
// Heartbeat, LeaveGroup, SyncGroup.
const GROUP_APIS = { 8: 'OffsetCommit', 9: 'OffsetFetch', 10: 'FindCoordinator', 11: 'JoinGroup',
  12: 'Heartbeat', 13: 'LeaveGroup', 14: 'SyncGroup' }

let checks = 0
let failures = 0
function check (ok, what) {
  checks++
  if (!ok) {
    failures++
    console.log(`FAILED: ${what}`)
  }
}

// Every record sent, by topic and partition, in offset order.
const expected = new Map()
function expect (topic, partition, record) {
  const key = `${topic}/${partition}`
  if (!expected.has(key)) expected.set(key, [])
  expected.get(key).push(record)
}

let counter = 0
const baseTs = Date.now() - 3600 * 1000
function makeMessages (tag, count, partitions = PARTITIONS) {
  const messages = []
  for (let j = 0; j < count; j++) {
    const i = counter++
    messages.push({
      partition: i % partitions,
      key: i % 5 === 0 ? null : `key-${i}`,
      value: i % 13 === 0 ? null : (i % 11 === 0 ? '' : `value-${i}-${tag}-` + 'x'.repeat(i % 50)),
      headers: { idx: `${i}`, tag },
      timestamp: String(baseTs + i)
    })
  }
  return messages
}

// Sends with `producer`, checks the answers and records what the topic must now hold.
async function send (producer, topic, messages, options) {
  const result = await producer.send({ topic, messages, ...options })
  check(result.every(r => r.errorCode === 0), `send to ${topic}: ${JSON.stringify(result)}`)
  for (const m of messages) expect(topic, m.partition, m)
  return result
}

function sameRecord (got, want) {
  const buf = v => (v === null || v === undefined ? null : Buffer.from(v))
  const eq = (a, b) => (a === null ? b === null : b !== null && a.equals(b))
  const wantHeaders = Object.entries(want.headers)
  const gotHeaders = Object.entries(got.headers || {})
  return eq(buf(got.key), buf(want.key)) && eq(buf(got.value), buf(want.value)) &&
    got.timestamp === want.timestamp && gotHeaders.length === wantHeaders.length &&
    wantHeaders.every(([k, v]) => got.headers[k] !== undefined && eq(buf(got.headers[k]), buf(v)))
}

// Reads a whole partition with kafkajs' Fetch (no consumer group): the records in offset order.
async function fetchAll (broker, topic, partition, highWatermark) {
  const out = []
  let offset = 0
  const deadline = Date.now() + TIMEOUT_MS
  while (offset < highWatermark && Date.now() < deadline) {
    const response = await broker.fetch({
      replicaId: -1,
      isolationLevel: 0,
      maxWaitTime: 100,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: 1 << 20 }] }]
    })
    const p = response.responses[0].partitions[0]
    check(p.errorCode === 0, `fetch ${topic}[${partition}] at ${offset}: error ${p.errorCode}`)
    if (p.errorCode !== 0) break
    for (const m of p.messages) {
      if (Number(m.offset) >= offset) out.push(m)
    }
    if (out.length > 0) offset = Number(out[out.length - 1].offset) + 1
  }
  return out
}

function checkPartition (topic, partition, records, how) {
  const want = expected.get(`${topic}/${partition}`) || []
  check(records.length === want.length,
    `${how} ${topic}[${partition}]: ${records.length} of ${want.length} records`)
  records.forEach((m, k) => {
    check(Number(m.offset) === k, `${how} ${topic}[${partition}]: offset ${m.offset} at ${k}`)
    if (k < want.length) {
      check(sameRecord(m, want[k]), `${how} ${topic}[${partition}] offset ${k}: got ` +
        `${JSON.stringify({ key: String(m.key), value: String(m.value), ts: m.timestamp })}, ` +
        `want ${JSON.stringify(want[k])}`)
    }
  })
}

async function adminChecks (admin) {
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: TOPIC, numPartitions: PARTITIONS, configEntries: [{ name: 'retention.ms', value: '86400000' }] },
      { topic: GZIP_TOPIC, numPartitions: 1, configEntries: [{ name: 'compression.type', value: 'gzip' }] }
    ]
  })
  check(created === true, `createTopics: ${created}`)
  const again = await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] })
  check(again === false, `createTopics of an existing topic answers false: ${again}`)
  const topics = await admin.listTopics()
  check(topics.includes(TOPIC) && topics.includes(GZIP_TOPIC), `listTopics: ${topics}`)

  const metadata = await admin.fetchTopicMetadata({ topics: [TOPIC] })
  const partitions = metadata.topics[0].partitions
  check(metadata.topics[0].name === TOPIC && partitions.length === PARTITIONS &&
    partitions.every(p => p.leader === 0 && p.partitionErrorCode === 0),
  `fetchTopicMetadata: ${JSON.stringify(metadata)}`)

  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [
      { type: ConfigResourceTypes.TOPIC, name: TOPIC, configNames: ['retention.ms', 'compression.type'] },
      { type: ConfigResourceTypes.TOPIC, name: GZIP_TOPIC, configNames: ['compression.type'] }
    ]
  })
  const value = (name, config) => {
    const r = configs.resources.find(x => x.resourceName === name)
    const e = r && r.configEntries.find(x => x.configName === config)
    return e ? e.configValue : undefined
  }
  check(value(TOPIC, 'retention.ms') === '86400000', `describeConfigs retention.ms: ${value(TOPIC, 'retention.ms')}`)
  check(value(TOPIC, 'compression.type') === 'producer', `describeConfigs compression.type: ${value(TOPIC, 'compression.type')}`)
  check(value(GZIP_TOPIC, 'compression.type') === 'gzip', `describeConfigs ${GZIP_TOPIC}: ${value(GZIP_TOPIC, 'compression.type')}`)
}

async function produceChecks (kafka) {
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  await send(producer, TOPIC, makeMessages('acks-all-none', 30), { acks: -1 })
  await send(producer, TOPIC, makeMessages('acks-1-gzip', 30), { acks: 1, compression: CompressionTypes.GZIP })
  // sendBatch over two topics; the gzip topic stores what arrives uncompressed as gzip.
  const batch = makeMessages('batch', 12)
  const gzipBatch = makeMessages('to-gzip-topic', 10, 1)
  const result = await producer.sendBatch({
    acks: -1,
    topicMessages: [{ topic: TOPIC, messages: batch }, { topic: GZIP_TOPIC, messages: gzipBatch }]
  })
  check(result.length === PARTITIONS + 1 && result.every(r => r.errorCode === 0),
    `sendBatch: ${JSON.stringify(result)}`)
  for (const m of batch) expect(TOPIC, m.partition, m)
  for (const m of gzipBatch) expect(GZIP_TOPIC, m.partition, m)
  await producer.disconnect()

  const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await idempotent.connect()
  for (let round = 0; round < 3; round++) {
    await send(idempotent, TOPIC, makeMessages(`idempotent-${round}`, 20),
      { acks: -1, compression: round % 2 ? CompressionTypes.GZIP : CompressionTypes.None })
  }
  await idempotent.disconnect()
}

async function offsetChecks (admin) {
  const offsets = await admin.fetchTopicOffsets(TOPIC)
  for (let p = 0; p < PARTITIONS; p++) {
    const o = offsets.find(x => x.partition === p)
    const want = (expected.get(`${TOPIC}/${p}`) || []).length
    check(o && o.high === String(want) && o.low === '0', `fetchTopicOffsets [${p}]: ${JSON.stringify(o)}, want high ${want}`)
  }
  // By timestamp: the first record at or after the 40th record's time; the high watermark
  // (kafkajs' answer for "none") past the last one.
  for (const at of [baseTs + 40, baseTs + counter + 1000]) {
    const byTime = await admin.fetchTopicOffsetsByTimestamp(TOPIC, at)
    for (let p = 0; p < PARTITIONS; p++) {
      const records = expected.get(`${TOPIC}/${p}`) || []
      let want = records.findIndex(r => Number(r.timestamp) >= at)
      if (want < 0) want = records.length
      const o = byTime.find(x => x.partition === p)
      check(o && o.offset === String(want), `fetchTopicOffsetsByTimestamp(${at - baseTs}) [${p}]: ${JSON.stringify(o)}, want ${want}`)
    }
  }
}

// The internal cluster of `kafka` (kafkajs keeps its factory behind a symbol), connected.
async function internalCluster (kafka) {
  const factory = Object.getOwnPropertySymbols(kafka)
    .find(s => s.description === 'private:Kafka:createCluster')
  if (!factory) throw new Error('kafkajs internals changed: no cluster factory')
  const cluster = kafka[factory]({ allowAutoTopicCreation: false })
  await cluster.connect()
  await cluster.addMultipleTargetTopics([TOPIC, GZIP_TOPIC])
  await cluster.refreshMetadata()
  return cluster
}

async function readBackChecks (kafka) {
  const cluster = await internalCluster(kafka)
  for (const [topic, count] of [[TOPIC, PARTITIONS], [GZIP_TOPIC, 1]]) {
    for (let p = 0; p < count; p++) {
      const leader = cluster.findTopicPartitionMetadata(topic).find(x => x.partitionId === p).leader
      const broker = await cluster.findBroker({ nodeId: leader })
      const want = (expected.get(`${topic}/${p}`) || []).length
      checkPartition(topic, p, await fetchAll(broker, topic, p, want), 'fetch')
    }
  }
  const broker = await cluster.findBroker({ nodeId: 0 })
  const missing = Object.entries(GROUP_APIS).filter(([key]) => !broker.versions[key]).map(([, name]) => name)
  await cluster.disconnect()
  return missing
}

async function groupConsumerChecks (kafka) {
  const consumer = kafka.consumer({ groupId: 'kafkajs-interop', sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  const got = new Map()
  let total = 0
  const want = [...Array(PARTITIONS).keys()].reduce((n, p) => n + (expected.get(`${TOPIC}/${p}`) || []).length, 0)
  let resolveDone
  const done = new Promise(resolve => { resolveDone = resolve })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (!got.has(partition)) got.set(partition, [])
      got.get(partition).push(message)
      if (++total >= want) resolveDone()
    }
  })
  await Promise.race([done, new Promise(resolve => setTimeout(resolve, TIMEOUT_MS))])
  await consumer.disconnect()
  for (let p = 0; p < PARTITIONS; p++) checkPartition(TOPIC, p, got.get(p) || [], 'consumer')
}

async function main () {
  const bootstrap = process.argv[2]
  if (!bootstrap) {
    console.log('usage: node produce_consume.js <bootstrap host:port>')
    process.exit(2)
  }
  const kafka = new Kafka({
    clientId: 'runnel-kafkajs-interop',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    retry: { retries: 3 }
  })
  const admin = kafka.admin()
  await admin.connect()
  await adminChecks(admin)
  await produceChecks(kafka)
  await offsetChecks(admin)
  const missingGroupApis = await readBackChecks(kafka)
  if (missingGroupApis.length === 0) {
    await groupConsumerChecks(kafka)
  } else {
    console.log(`NOT RUN: the kafkajs group consumer (consumer.run) — the broker does not ` +
      `advertise ${missingGroupApis.join(', ')}; records were read back with kafkajs' Fetch instead`)
  }
  await admin.deleteTopics({ topics: [TOPIC, GZIP_TOPIC], timeout: 10000 })
  const left = await admin.listTopics()
  check(!left.includes(TOPIC) && !left.includes(GZIP_TOPIC), `deleteTopics: still listed: ${left}`)
  await admin.disconnect()
  console.log(`kafkajs ${require(path.join(__dirname, 'node_modules', 'kafkajs', 'package.json')).version}: ${checks} checks, ${failures} failed`)
  process.exit(failures === 0 && checks > 0 ? 0 : 1)
}

main().catch(e => {
  console.log(`FAILED: ${e.stack || e}`)
  process.exit(1)
})
