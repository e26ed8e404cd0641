// Transform plugins written in C (netsys_register_transform): an XOR
// "cipher" with a 100-byte trailer (padding, then the length), negotiated by a client and a
// server, must round-trip messages of every size (including ones that need
// the size-query retry) and its failures must close only that connection.
#include "testutil.h"

typedef struct xor_key {
    uint8_t key;
    atomic_int encodes, decodes, too_small;
} xor_key;

enum { TRAILER = 100 };

// encode: XOR every byte, then append TRAILER bytes ending with the length
// (the output is so much longer than the input that the library's first
// buffer guess is too small and the size-query retry is exercised).
static int xor_encode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size, size_t limit) {
    xor_key *k = ud;
    atomic_fetch_add(&k->encodes, 1);
    *out_size = n + TRAILER;
    if (cap < n + TRAILER) {
        atomic_fetch_add(&k->too_small, 1);
        return NETSYS_E_BUFFER_TOO_SMALL;
    }
    for (size_t i = 0; i < n; i++) out[i] = in[i] ^ k->key;
    uint32_t len = (uint32_t)n;
    memset(out + n, 0xee, TRAILER - 4);
    memcpy(out + n + TRAILER - 4, &len, 4);
    return NETSYS_OK;
}

static int xor_decode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size, size_t limit) {
    xor_key *k = ud;
    atomic_fetch_add(&k->decodes, 1);
    if (n < TRAILER) return NETSYS_E_PROTOCOL;
    uint32_t len;
    memcpy(&len, in + n - 4, 4);
    if (len != n - TRAILER || len > limit) return NETSYS_E_PROTOCOL;
    *out_size = len;
    if (cap < len) return NETSYS_E_BUFFER_TOO_SMALL;
    for (size_t i = 0; i < len; i++) out[i] = in[i] ^ k->key;
    return NETSYS_OK;
}

// strict: the identity, except that it refuses to decode a message that
// starts with '!'.
static int strict_encode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size, size_t limit) {
    *out_size = n;
    if (cap < n) return NETSYS_E_BUFFER_TOO_SMALL;
    if (n) memcpy(out, in, n);
    return NETSYS_OK;
}

static int strict_decode(void *ud, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_size, size_t limit) {
    if (n && in[0] == '!') return NETSYS_E_PROTOCOL;
    return strict_encode(ud, in, n, out, cap, out_size, limit);
}

typedef struct ending {
    atomic_int done;
    char reason[256];
} ending;

static void record_reason(void *ud, netsys_client c, const char *reason) {
    ending *e = ud;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    atomic_store(&e->done, 1);
}

// A C transform that fails closes the connection with CLOSE 1011 and the
// reason "transform failed: <name>: decode returned status N (<name of N>)".
static void test_failure_reason(void) {
    CHECK_OK(netsys_register_transform("strict", strict_encode, strict_decode, NULL));
    netsys_server s = make_server("strict");
    CHECK_OK(netsys_server_set_string(s, NETSYS_OPT_TRANSFORMS, "strict"));
    int port = start_server(s);
    netsys_client c;
    static ending e;
    CHECK_OK(netsys_client_create(&c, "strict-client"));
    CHECK_OK(netsys_client_set_string(c, NETSYS_OPT_TRANSFORMS, "strict"));
    CHECK_OK(netsys_client_set_disconnect_callback(c, record_reason, &e));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    CHECK_OK(netsys_client_send_string(c, "!refused"));
    CHECK_WITHIN(atomic_load(&e.done), 5000);
    if (strcmp(e.reason, "transform failed: strict: decode returned status 13 (protocol error)") != 0) {
        fprintf(stderr, "disconnect reason %s\n", e.reason);
        CHECK(0);
    }
    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
    CHECK_OK(netsys_unregister_transform("strict"));
}

static void echo(void *ud, netsys_server s, uint64_t sid, const uint8_t *data, size_t size) {
    netsys_session_send(s, sid, data, size);
}

typedef struct sink {
    atomic_int count;
    atomic_int bad;
    size_t expect_size;
} sink;

static void check_pattern(void *ud, netsys_client c, const uint8_t *data, size_t size) {
    sink *k = ud;
    int ok = size == k->expect_size;
    for (size_t i = 0; ok && i < size; i++) ok = data[i] == (uint8_t)(i * 7);
    if (!ok) atomic_fetch_add(&k->bad, 1);
    atomic_fetch_add(&k->count, 1);
}

int main(void) {
    static xor_key key = {.key = 0x5a};
    CHECK_RC(netsys_register_transform(NULL, xor_encode, xor_decode, &key), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_register_transform("xor", NULL, xor_decode, &key), NETSYS_E_NULL_POINTER);
    CHECK_RC(netsys_register_transform("", xor_encode, xor_decode, &key), NETSYS_E_INVALID_ARGUMENT);
    CHECK_RC(netsys_unregister_transform("xor"), NETSYS_E_NOT_FOUND);
    CHECK_OK(netsys_register_transform("xor", xor_encode, xor_decode, &key));

    netsys_server s = make_server("xf");
    CHECK_OK(netsys_server_set_string(s, NETSYS_OPT_TRANSFORMS, "xor"));
    CHECK_OK(netsys_server_set_message_callback(s, echo, NULL));
    int port = start_server(s);

    netsys_client c;
    static sink got;
    CHECK_OK(netsys_client_create(&c, "xf-client"));
    CHECK_OK(netsys_client_set_string(c, NETSYS_OPT_TRANSFORMS, "xor"));
    CHECK_OK(netsys_client_set_message_callback(c, check_pattern, &got));
    CHECK_OK(netsys_client_connect(c, "127.0.0.1", port));
    size_t sizes[] = {0, 1, 100, 5000, 200000};
    uint8_t *buf = malloc(200000);
    for (size_t i = 0; i < 200000; i++) buf[i] = (uint8_t)(i * 7);
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        got.expect_size = sizes[t];
        atomic_store(&got.count, 0);
        CHECK_OK(netsys_client_send(c, buf, sizes[t]));
        CHECK_WITHIN(atomic_load(&got.count) == 1, 5000);
        CHECK(atomic_load(&got.bad) == 0);
    }
    free(buf);
    // Both directions went through the C functions.
    CHECK(atomic_load(&key.encodes) >= 10 && atomic_load(&key.decodes) >= 10);
    printf("transform: %d encodes, %d decodes, %d size-query retries\n", atomic_load(&key.encodes),
           atomic_load(&key.decodes), atomic_load(&key.too_small));

    CHECK(atomic_load(&key.too_small) > 0);

    // A server accepts any subset of its transforms: a plain client still connects.
    netsys_client plain;
    CHECK_OK(netsys_client_create(&plain, "plain"));
    CHECK_OK(netsys_client_connect(plain, "127.0.0.1", port));
    CHECK_OK(netsys_client_destroy(plain));

    CHECK_OK(netsys_client_destroy(c));
    CHECK_OK(netsys_server_destroy(s));
    CHECK_OK(netsys_unregister_transform("xor"));
    CHECK_RC(netsys_unregister_transform("xor"), NETSYS_E_NOT_FOUND);

    // Naming an unregistered transform is refused when the option is set.
    CHECK_OK(netsys_client_create(&c, "xf-missing"));
    CHECK_RC(netsys_client_set_string(c, NETSYS_OPT_TRANSFORMS, "xor"), NETSYS_E_INVALID_ARGUMENT);
    CHECK_OK(netsys_client_destroy(c));
    test_failure_reason();
    check_no_live_handles();
    puts("test_transform: ok");
    return 0;
}
