/* Interop: Debian's librdkafka (C API) against a running runnel.
 *
 *   librdkafka_interop <bootstrap host:port>
 *
 * Creates topics with the admin API (one with configs, one that exists already), produces
 * records with keys, null keys, empty values and headers (one with a null value) in every codec
 * with acks=all and idempotence on, waits for every delivery report, reads everything back with
 * the legacy (group-less) consumer and checks each record, its offset (dense per partition) and
 * timestamp, queries watermarks and offsets for timestamps, and deletes the topics. Exits 0 only
 * if every check passed; each failed check prints a line starting with "FAILED:". Every wait
 * has a deadline, so a broker that does not answer fails the run rather than hanging it.
 * The harness (run_with_broker.py) starts and stops the broker. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOPIC "c.interop"
#define CONVERTED_TOPIC "c.converted"
#define PARTITIONS 3
#define PER_CODEC 60
#define CODECS 5
#define TOTAL (PER_CODEC * CODECS)
#define CONVERTED_COUNT 10
#define TIMEOUT_MS 30000

static const char* kCodecs[CODECS] = {"none", "gzip", "snappy", "lz4", "zstd"};

static int failures = 0;
static int checks = 0;

static void check(int ok, const char* fmt, ...) {
  checks++;
  if (ok) return;
  failures++;
  va_list ap;
  va_start(ap, fmt);
  printf("FAILED: ");
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
}

static void fatal(const char* what, const char* detail) {
  printf("FAILED: %s: %s\n", what, detail);
  exit(1);
}

/* The records the test produces, by global index m (0 .. TOTAL-1). */
typedef struct {
  char key[32];
  int key_null;
  char value[512];
  size_t value_len;
  char idx[16];
  const char* codec; /* the codec it was produced with */
  int64_t timestamp_ms;
  int32_t partition;
  int64_t delivered_offset; /* from the delivery report; -1 until then */
} Expected;

static Expected expected[TOTAL];
static int delivered_ok = 0;
static int delivered_failed = 0;

static void make_expected(int64_t base_ms) {
  for (int m = 0; m < TOTAL; m++) {
    Expected* e = &expected[m];
    e->key_null = (m % 7 == 0);
    snprintf(e->key, sizeof e->key, "key-%d", m);
    if (m % 11 == 0) {
      e->value_len = 0; /* an empty (not null) value */
    } else {
      int n = snprintf(e->value, sizeof e->value, "value-%d-%s-", m, kCodecs[m / PER_CODEC]);
      size_t fill = (size_t)(m * 13) % 300; /* compressible padding of varied length */
      memset(e->value + n, 'a' + m % 26, fill);
      e->value_len = (size_t)n + fill;
    }
    snprintf(e->idx, sizeof e->idx, "%d", m);
    e->timestamp_ms = base_ms + m * 10;
    e->partition = m % PARTITIONS;
    e->delivered_offset = -1;
  }
}

static void dr_cb(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque) {
  (void)rk;
  (void)opaque;
  intptr_t m = (intptr_t)msg->_private;
  if (msg->err) {
    delivered_failed++;
    printf("FAILED: delivery of record %d: %s\n", (int)m, rd_kafka_err2str(msg->err));
    return;
  }
  delivered_ok++;
  if (m >= 0 && m < TOTAL) expected[m].delivered_offset = msg->offset;
}

static rd_kafka_conf_t* base_conf(const char* bootstrap) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    fatal("bootstrap.servers", errstr);
  }
  return conf;
}

static void conf_set(rd_kafka_conf_t* conf, const char* name, const char* value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fatal(name, errstr);
  }
}

static rd_kafka_t* new_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == NULL) fatal("rd_kafka_new", errstr);
  return rk;
}

/* Waits for the admin result event of `type` on `q`. */
static rd_kafka_event_t* wait_admin(rd_kafka_queue_t* q, rd_kafka_event_type_t type) {
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
  if (ev == NULL) fatal("admin request", "no result within the timeout");
  if (rd_kafka_event_type(ev) != type) fatal("admin request", rd_kafka_event_name(ev));
  if (rd_kafka_event_error(ev)) fatal("admin request", rd_kafka_event_error_string(ev));
  return ev;
}

/* Checks that an admin result names `count` topics in order and gives each one's error in
 * `errors` (RD_KAFKA_RESP_ERR_UNKNOWN for topics the result left out). */
static void topic_results(const char* what, const rd_kafka_topic_result_t** results, size_t n,
                          int count, const char** names, rd_kafka_resp_err_t* errors) {
  check(n == (size_t)count, "%s answered for %zu of %d topics", what, n, count);
  for (int i = 0; i < count; i++) {
    errors[i] = RD_KAFKA_RESP_ERR_UNKNOWN;
    if ((size_t)i >= n) continue;
    check(strcmp(rd_kafka_topic_result_name(results[i]), names[i]) == 0, "%s result %d names %s",
          what, i, rd_kafka_topic_result_name(results[i]));
    errors[i] = rd_kafka_topic_result_error(results[i]);
  }
}

/* Creates `names` (each with `partitions[i]` partitions and one config pair, may be NULL) and
 * returns each topic's error code in `errors`. */
static void create_topics(rd_kafka_t* rk, int count, const char** names, const int* partitions,
                          const char** config_names, const char** config_values,
                          rd_kafka_resp_err_t* errors) {
  char errstr[512];
  rd_kafka_NewTopic_t* topics[4];
  for (int i = 0; i < count; i++) {
    topics[i] = rd_kafka_NewTopic_new(names[i], partitions[i], 1, errstr, sizeof errstr);
    if (topics[i] == NULL) fatal("NewTopic", errstr);
    if (config_names[i] != NULL &&
        rd_kafka_NewTopic_set_config(topics[i], config_names[i], config_values[i])) {
      fatal("NewTopic_set_config", config_names[i]);
    }
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, topics, (size_t)count, NULL, q);
  rd_kafka_event_t* ev = wait_admin(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  topic_results("CreateTopics", results, n, count, names, errors);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy_array(topics, (size_t)count);
}

static void delete_topics(rd_kafka_t* rk, int count, const char** names) {
  rd_kafka_DeleteTopic_t* topics[4];
  for (int i = 0; i < count; i++) topics[i] = rd_kafka_DeleteTopic_new(names[i]);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteTopics(rk, topics, (size_t)count, NULL, q);
  rd_kafka_event_t* ev = wait_admin(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
  rd_kafka_resp_err_t errors[4];
  topic_results("DeleteTopics", results, n, count, names, errors);
  for (int i = 0; i < count; i++) {
    check(errors[i] == RD_KAFKA_RESP_ERR_NO_ERROR, "DeleteTopics %s: %s", names[i],
          rd_kafka_err2str(errors[i]));
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_DeleteTopic_destroy_array(topics, (size_t)count);
}

/* Produces records [first, first + count) to `topic` with `codec`, acks=all, idempotent, and
 * waits for every delivery report. */
static void produce(const char* bootstrap, const char* topic, const char* codec, int first,
                    int count) {
  rd_kafka_conf_t* conf = base_conf(bootstrap);
  conf_set(conf, "enable.idempotence", "true");
  conf_set(conf, "acks", "all");
  conf_set(conf, "compression.codec", codec);
  conf_set(conf, "linger.ms", "20");
  rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  rd_kafka_t* rk = new_client(RD_KAFKA_PRODUCER, conf);
  for (int m = first; m < first + count; m++) {
    Expected* e = &expected[m];
    e->codec = codec;
    e->delivered_offset = -1;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(e->partition),
        RD_KAFKA_V_KEY(e->key_null ? NULL : e->key, e->key_null ? 0 : strlen(e->key)),
        RD_KAFKA_V_VALUE((void*)e->value, e->value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(e->timestamp_ms), RD_KAFKA_V_HEADER("idx", e->idx, -1),
        RD_KAFKA_V_HEADER("codec", codec, -1), RD_KAFKA_V_HEADER("null", NULL, 0),
        RD_KAFKA_V_OPAQUE((void*)(intptr_t)m), RD_KAFKA_V_END);
    if (err) fatal("producev", rd_kafka_err2str(err));
  }
  rd_kafka_resp_err_t err = rd_kafka_flush(rk, TIMEOUT_MS);
  check(err == RD_KAFKA_RESP_ERR_NO_ERROR, "flush (%s): %s", codec, rd_kafka_err2str(err));
  check(rd_kafka_outq_len(rk) == 0, "%d messages still queued after flush", rd_kafka_outq_len(rk));
  rd_kafka_destroy(rk);
}

/* Checks one consumed message against the expected record m. */
static void check_record(const rd_kafka_message_t* msg, int m, int64_t offset) {
  const Expected* e = &expected[m];
  check(msg->offset == offset, "record %d: offset %" PRId64 ", expected %" PRId64, m, msg->offset,
        offset);
  check(e->delivered_offset == msg->offset,
        "record %d: delivery report said offset %" PRId64 ", consumed at %" PRId64, m,
        e->delivered_offset, msg->offset);
  if (e->key_null) {
    check(msg->key == NULL, "record %d: key should be null", m);
  } else {
    check(msg->key != NULL && msg->key_len == strlen(e->key) &&
              memcmp(msg->key, e->key, msg->key_len) == 0,
          "record %d: key mismatch", m);
  }
  /* librdkafka gives an empty value as a zero length (payload pointer unspecified). */
  check(msg->len == e->value_len && (e->value_len == 0 || msg->payload != NULL) &&
            memcmp(msg->payload, e->value, e->value_len) == 0,
        "record %d: value mismatch (%zu bytes, expected %zu)", m, msg->len, e->value_len);
  rd_kafka_timestamp_type_t tstype;
  int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
  check(tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME && ts == e->timestamp_ms,
        "record %d: timestamp %" PRId64 " (type %d), expected %" PRId64, m, ts, (int)tstype,
        e->timestamp_ms);
  rd_kafka_headers_t* hdrs = NULL;
  if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    check(0, "record %d: no headers", m);
    return;
  }
  check(rd_kafka_header_cnt(hdrs) == 3, "record %d: %zu headers", m, rd_kafka_header_cnt(hdrs));
  const char* want_names[3] = {"idx", "codec", "null"};
  const char* want_values[3] = {e->idx, e->codec, NULL};
  for (size_t i = 0; i < 3 && i < rd_kafka_header_cnt(hdrs); i++) {
    const char* name = NULL;
    const void* value = NULL;
    size_t size = 0;
    rd_kafka_header_get_all(hdrs, i, &name, &value, &size);
    check(strcmp(name, want_names[i]) == 0, "record %d: header %zu is %s", m, i, name);
    if (want_values[i] == NULL) {
      check(value == NULL, "record %d: header %s should have a null value", m, name);
    } else {
      check(value != NULL && size == strlen(want_values[i]) &&
                memcmp(value, want_values[i], size) == 0,
            "record %d: header %s value mismatch", m, name);
    }
  }
}

/* Reads partition `partition` of `topic` from the beginning until `want` records arrived (or
 * the deadline passed) and hands each to check_record with its expected index. */
static void consume_partition(rd_kafka_t* rk, const char* topic, int32_t partition,
                              const int* indexes, int want) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic, NULL);
  if (rd_kafka_consume_start(rkt, partition, RD_KAFKA_OFFSET_BEGINNING) == -1) {
    fatal("consume_start", rd_kafka_err2str(rd_kafka_last_error()));
  }
  int got = 0;
  int eof_seen_at_end = 0;
  const time_t deadline = time(NULL) + TIMEOUT_MS / 1000;
  while ((got < want || !eof_seen_at_end) && time(NULL) < deadline) {
    rd_kafka_message_t* msg = rd_kafka_consume(rkt, partition, 1000);
    if (msg == NULL) continue;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      eof_seen_at_end = got >= want;
    } else if (msg->err) {
      check(0, "consume %s [%d]: %s", topic, partition, rd_kafka_message_errstr(msg));
    } else {
      if (got < want) {
        check_record(msg, indexes[got], got);
      } else {
        check(0, "%s [%d]: unexpected extra record at offset %" PRId64, topic, partition,
              msg->offset);
      }
      got++;
    }
    rd_kafka_message_destroy(msg);
  }
  check(got == want, "%s [%d]: consumed %d of %d records", topic, partition, got, want);
  check(eof_seen_at_end, "%s [%d]: no end-of-partition after the last record", topic, partition);
  rd_kafka_consume_stop(rkt, partition);
  rd_kafka_topic_destroy(rkt);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <bootstrap host:port>\n", argv[0]);
    return 2;
  }
  const char* bootstrap = argv[1];
  printf("librdkafka %s against %s\n", rd_kafka_version_str(), bootstrap);
  /* Timestamps an hour in the past (well inside the default retention). */
  make_expected((int64_t)time(NULL) * 1000 - 3600 * 1000);

  /* Admin: create, and create again (TOPIC_ALREADY_EXISTS). */
  rd_kafka_t* admin = new_client(RD_KAFKA_PRODUCER, base_conf(bootstrap));
  const char* names[2] = {TOPIC, CONVERTED_TOPIC};
  const int partitions[2] = {PARTITIONS, 1};
  const char* config_names[2] = {"retention.ms", "compression.type"};
  const char* config_values[2] = {"86400000", "uncompressed"};
  rd_kafka_resp_err_t errors[2] = {RD_KAFKA_RESP_ERR_UNKNOWN, RD_KAFKA_RESP_ERR_UNKNOWN};
  create_topics(admin, 2, names, partitions, config_names, config_values, errors);
  for (int i = 0; i < 2; i++) {
    check(errors[i] == RD_KAFKA_RESP_ERR_NO_ERROR, "CreateTopics %s: %s", names[i],
          rd_kafka_err2str(errors[i]));
  }
  create_topics(admin, 1, names, partitions, config_names, config_values, errors);
  check(errors[0] == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
        "CreateTopics of an existing topic: %s", rd_kafka_err2str(errors[0]));

  /* Produce: one idempotent acks=all producer per codec. */
  for (int c = 0; c < CODECS; c++) produce(bootstrap, TOPIC, kCodecs[c], c * PER_CODEC, PER_CODEC);
  check(delivered_ok == TOTAL && delivered_failed == 0, "delivery reports: %d ok, %d failed of %d",
        delivered_ok, delivered_failed, TOTAL);

  /* Consume every partition from the beginning, without a group. */
  rd_kafka_conf_t* cconf = base_conf(bootstrap);
  conf_set(cconf, "enable.partition.eof", "true");
  rd_kafka_t* consumer = new_client(RD_KAFKA_CONSUMER, cconf);
  static int indexes[PARTITIONS][TOTAL];
  int per_partition[PARTITIONS] = {0};
  for (int m = 0; m < TOTAL; m++) {
    int32_t p = expected[m].partition;
    indexes[p][per_partition[p]++] = m;
  }
  for (int32_t p = 0; p < PARTITIONS; p++) {
    consume_partition(consumer, TOPIC, p, indexes[p], per_partition[p]);
  }

  /* Watermarks. */
  for (int32_t p = 0; p < PARTITIONS; p++) {
    int64_t low = -2, high = -2;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(consumer, TOPIC, p, &low, &high, TIMEOUT_MS);
    check(err == RD_KAFKA_RESP_ERR_NO_ERROR && low == 0 && high == per_partition[p],
          "watermarks of [%d]: %s, low %" PRId64 " high %" PRId64 " (expected 0, %d)", p,
          rd_kafka_err2str(err), low, high, per_partition[p]);
  }

  /* Offsets for times: the 5th record's timestamp, 1 ms after it, and after the last record. */
  rd_kafka_topic_partition_list_t* times = rd_kafka_topic_partition_list_new(PARTITIONS * 3);
  for (int32_t p = 0; p < PARTITIONS; p++) {
    const int64_t fifth = expected[indexes[p][4]].timestamp_ms;
    rd_kafka_topic_partition_list_add(times, TOPIC, p)->offset = fifth;
  }
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(consumer, times, TIMEOUT_MS);
  check(err == RD_KAFKA_RESP_ERR_NO_ERROR, "offsets_for_times: %s", rd_kafka_err2str(err));
  for (int i = 0; i < times->cnt; i++) {
    check(times->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && times->elems[i].offset == 4,
          "offsets_for_times [%d]: %s, offset %" PRId64 " (expected 4)", times->elems[i].partition,
          rd_kafka_err2str(times->elems[i].err), times->elems[i].offset);
  }
  rd_kafka_topic_partition_list_destroy(times);
  times = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(times, TOPIC, 0)->offset =
      expected[indexes[0][4]].timestamp_ms + 1;
  rd_kafka_topic_partition_list_add(times, TOPIC, 1)->offset =
      expected[TOTAL - 1].timestamp_ms + 1000;
  err = rd_kafka_offsets_for_times(consumer, times, TIMEOUT_MS);
  check(err == RD_KAFKA_RESP_ERR_NO_ERROR && times->elems[0].offset == 5,
        "offsets_for_times just after the 5th record: offset %" PRId64 " (expected 5)",
        times->elems[0].offset);
  check(err == RD_KAFKA_RESP_ERR_NO_ERROR && times->elems[1].offset == RD_KAFKA_OFFSET_END,
        "offsets_for_times after the last record: offset %" PRId64 " (expected -1)",
        times->elems[1].offset);
  rd_kafka_topic_partition_list_destroy(times);

  /* A topic with compression.type=uncompressed: gzip records come back exact (the broker
   * stores them uncompressed; produce_interop/compression tests check the stored codec). */
  for (int m = 0; m < CONVERTED_COUNT; m++) expected[m].partition = 0;
  delivered_ok = 0;
  produce(bootstrap, CONVERTED_TOPIC, "gzip", 0, CONVERTED_COUNT);
  check(delivered_ok == CONVERTED_COUNT, "%s: %d of %d delivered", CONVERTED_TOPIC, delivered_ok,
        CONVERTED_COUNT);
  int converted_indexes[CONVERTED_COUNT];
  for (int m = 0; m < CONVERTED_COUNT; m++) converted_indexes[m] = m;
  consume_partition(consumer, CONVERTED_TOPIC, 0, converted_indexes, CONVERTED_COUNT);
  rd_kafka_destroy(consumer);

  /* Delete, then the metadata no longer lists the topics. */
  delete_topics(admin, 2, names);
  const struct rd_kafka_metadata* md = NULL;
  err = rd_kafka_metadata(admin, 1, NULL, &md, TIMEOUT_MS);
  check(err == RD_KAFKA_RESP_ERR_NO_ERROR, "metadata after delete: %s", rd_kafka_err2str(err));
  if (md != NULL) {
    for (int i = 0; i < md->topic_cnt; i++) {
      check(strcmp(md->topics[i].topic, TOPIC) != 0 &&
                strcmp(md->topics[i].topic, CONVERTED_TOPIC) != 0,
            "topic %s still listed after DeleteTopics", md->topics[i].topic);
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_destroy(admin);

  printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
