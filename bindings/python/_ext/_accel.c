/*
 * netsys._accel: the Python package's two per-message loops, in C.
 *
 * An optional CPython extension; the package works without it (pure
 * Python, netsys/_events.py and the _dispatch_messages methods of
 * netsys/_server.py and netsys/_client.py) and behaves the same with it.
 * It does no networking and does not link against libnetsys: it only
 *
 *   - splits a polled batch of message events (the netsys_event array the
 *     poll filled, in the package's bytearray) into a list of session ids
 *     and a list of bytes, or says None when the batch is not made only of
 *     non-empty messages in order, close together (the general decoder
 *     then runs): split_messages(), the counterpart of
 *     EventBuffer._messages_only;
 *   - runs a batch's on_message handlers: the handler is read from the
 *     server or client again before every message (a handler may replace
 *     or remove it), a non-None result goes to host._deliver_result, and
 *     any exception (BaseException included) goes to host._handler_failed
 *     and never propagates: dispatch_session() and dispatch_sessions() for
 *     a server, dispatch_client() for a client.
 *
 * Built against the stable ABI (Py_LIMITED_API, CPython 3.8 and later): one
 * abi3 file serves every CPython 3 of a platform. What the version-specific
 * API would save (vectorcall instead of PyObject_CallFunctionObjArgs) is a
 * few percent of the handler loop, which the package runs in C on CPython
 * 3.8 to 3.10 only (see netsys/_speedups.py); the splitter gains nothing.
 */

#define Py_LIMITED_API 0x03080000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "netsys.h"

/* Bumped whenever a function's contract changes: the package refuses a
 * module of another version (a stale build) and runs pure Python. */
#define ACCEL_API_VERSION 2

static PyObject *str_on_message_attr;    /* "_on_message" */
static PyObject *str_on_message;         /* "on_message" */
static PyObject *str_handler_failed;     /* "_handler_failed" */
static PyObject *str_deliver_result;     /* "_deliver_result" */
static PyObject *str_session_for;        /* "_session_for" */
static PyObject *str_buffer_message;     /* "_buffer_message" */
static PyObject *str_get;                /* "get" */
static PyObject *empty_tuple;

/* ------------------------------------------------------------------------ */
/* Splitting a batch                                                        */
/* ------------------------------------------------------------------------ */

/* The largest gap between two messages a batch may have: _MAX_GAP in
 * netsys/_events.py. */
#define MAX_GAP 4096

/* The same checks as EventBuffer._messages_only, in the same order:
 * every event is a MESSAGE with status 0; none is empty (its data would be
 * NULL); each message starts at most MAX_GAP bytes after the one before
 * ends (the library leaves its frame header there). A sum that would not
 * fit in 64 bits (Python's integers do not wrap) is not that layout
 * either. The bytes between messages are never read. */
static PyObject *split_messages(PyObject *self, PyObject *args) {
    PyObject *raw;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On:split_messages", &raw, &n)) {
        return NULL;
    }
    if (!PyByteArray_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "split_messages: the event array must be a bytearray");
        return NULL;
    }
    Py_ssize_t capacity = PyByteArray_Size(raw) / (Py_ssize_t)sizeof(netsys_event);
    if (n <= 0 || n > capacity) {
        Py_RETURN_NONE;
    }
    const char *base = PyByteArray_AsString(raw);
    if (base == NULL) {
        return NULL;
    }
    netsys_event ev;
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(&ev, base + (size_t)i * sizeof(netsys_event), sizeof ev);
        if (ev.type != NETSYS_EVENT_MESSAGE || ev.status != 0) {
            Py_RETURN_NONE; /* another event type, or a status */
        }
    }
    uint64_t end = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(&ev, base + (size_t)i * sizeof(netsys_event), sizeof ev);
        uint64_t ptr = (uint64_t)(uintptr_t)ev.data;
        uint64_t size = (uint64_t)ev.size;
        if (size == 0) {
            Py_RETURN_NONE; /* an empty message, whose data is NULL */
        }
        if (i > 0 && (ptr < end || ptr - end > MAX_GAP)) {
            Py_RETURN_NONE; /* out of order, or far apart */
        }
        if (size > UINT64_MAX - ptr || size > (uint64_t)PY_SSIZE_T_MAX) {
            Py_RETURN_NONE;
        }
        end = ptr + size;
    }

    PyObject *sids = PyList_New(n);
    PyObject *datas = sids ? PyList_New(n) : NULL;
    if (datas == NULL) {
        Py_XDECREF(sids);
        return NULL;
    }
    /* A batch is mostly runs of one session: its id's int is made once
     * per run (ints are immutable: sharing one is invisible). */
    PyObject *sid = NULL;
    uint64_t sid_value = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(&ev, base + (size_t)i * sizeof(netsys_event), sizeof ev);
        if (sid == NULL || ev.session_id != sid_value) {
            sid = PyLong_FromUnsignedLongLong((unsigned long long)ev.session_id);
            if (sid == NULL) {
                goto fail;
            }
            sid_value = ev.session_id;
        } else {
            Py_INCREF(sid);
        }
        if (PyList_SetItem(sids, i, sid) < 0) { /* steals the reference: sid stays alive in the list */
            goto fail;
        }
        PyObject *data = PyBytes_FromStringAndSize((const char *)ev.data, (Py_ssize_t)ev.size);
        if (data == NULL || PyList_SetItem(datas, i, data) < 0) {
            goto fail;
        }
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        goto fail;
    }
    PyTuple_SetItem(pair, 0, sids);
    PyTuple_SetItem(pair, 1, datas);
    return pair;

fail:
    Py_DECREF(sids);
    Py_DECREF(datas);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Running the handlers                                                     */
/* ------------------------------------------------------------------------ */

static PyObject *call_handler(PyObject *fn, PyObject *session, PyObject *data) {
    if (session == NULL) {
        return PyObject_CallFunctionObjArgs(fn, data, NULL);
    }
    return PyObject_CallFunctionObjArgs(fn, session, data, NULL);
}

/* The handler raised (its exception is set): hand it to
 * host._handler_failed("on_message", exc[, session]) as the exception
 * being handled, as the pure-Python loop's `except BaseException as exc:`
 * does (sys.exc_info() is exc meanwhile, and what on_error raises gets it
 * as its __context__). 0, or -1 if _handler_failed itself raised. */
static int handler_failed(PyObject *host, PyObject *session) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL) { /* cannot happen: an exception was set */
        Py_XDECREF(type);
        Py_XDECREF(tb);
        PyErr_SetString(PyExc_SystemError, "netsys._accel: handler failed without an exception");
        return -1;
    }
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_GetExcInfo(&saved_type, &saved_value, &saved_tb);
    Py_XINCREF(type);
    Py_INCREF(value);
    Py_XINCREF(tb);
    PyErr_SetExcInfo(type, value, tb); /* steals the three */
    PyObject *r;
    if (session == NULL) {
        r = PyObject_CallMethodObjArgs(host, str_handler_failed, str_on_message, value, NULL);
    } else {
        r = PyObject_CallMethodObjArgs(host, str_handler_failed, str_on_message, value, session, NULL);
    }
    PyErr_SetExcInfo(saved_type, saved_value, saved_tb);
    Py_XDECREF(type);
    Py_DECREF(value);
    Py_XDECREF(tb);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* host._deliver_result(result, "on_message", (session,) or ()). */
static int deliver_result(PyObject *host, PyObject *result, PyObject *session) {
    PyObject *error_args;
    if (session == NULL) {
        error_args = empty_tuple;
        Py_INCREF(error_args);
    } else {
        error_args = PyTuple_New(1);
        if (error_args == NULL) {
            return -1;
        }
        Py_INCREF(session);
        PyTuple_SetItem(error_args, 0, session);
    }
    PyObject *r = PyObject_CallMethodObjArgs(host, str_deliver_result, result, str_on_message, error_args, NULL);
    Py_DECREF(error_args);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* One message to a handler already read: the body of the pure-Python
 * loops' try/except. 0, or -1 with an exception set (only when
 * _handler_failed or _deliver_result raised: those propagate). */
static int run_one(PyObject *host, PyObject *on_message, PyObject *session, PyObject *data) {
    PyObject *result = call_handler(on_message, session, data);
    if (result == NULL) {
        return handler_failed(host, session);
    }
    if (result == Py_None) {
        Py_DECREF(result);
        return 0;
    }
    int rc = deliver_result(host, result, session);
    Py_DECREF(result);
    return rc;
}

/* The next item of a batch's sequence: a list is indexed (as its iterator
 * does: the length is read again each time, so a list changed meanwhile
 * is still read safely), anything else iterated. A new reference; NULL at
 * the end or with an exception set. */
typedef struct {
    PyObject *list; /* borrowed, or NULL */
    PyObject *it;   /* owned, or NULL */
    Py_ssize_t index;
} items;

static int items_open(items *s, PyObject *seq) {
    s->index = 0;
    if (PyList_CheckExact(seq)) {
        s->list = seq;
        s->it = NULL;
        return 0;
    }
    s->list = NULL;
    s->it = PyObject_GetIter(seq);
    return s->it == NULL ? -1 : 0;
}

static PyObject *items_next(items *s) {
    if (s->list != NULL) {
        if (s->index >= PyList_Size(s->list)) {
            s->list = NULL; /* like an exhausted list iterator: stays exhausted */
            return NULL;
        }
        PyObject *item = PyList_GetItem(s->list, s->index++);
        Py_XINCREF(item);
        return item;
    }
    return s->it == NULL ? NULL : PyIter_Next(s->it);
}

static void items_close(items *s) {
    Py_CLEAR(s->it);
    s->list = NULL;
}

/* dispatch_session(server, session, datas): every message of the batch is
 * from one session, whose object the caller has looked up. */
static PyObject *dispatch_session(PyObject *self, PyObject *args) {
    PyObject *host, *session, *datas;
    if (!PyArg_ParseTuple(args, "OOO:dispatch_session", &host, &session, &datas)) {
        return NULL;
    }
    items data_items;
    if (items_open(&data_items, datas) < 0) {
        return NULL;
    }
    PyObject *data;
    while ((data = items_next(&data_items)) != NULL) {
        PyObject *on_message = PyObject_GetAttr(host, str_on_message_attr);
        if (on_message == NULL) {
            Py_DECREF(data);
            goto fail;
        }
        int rc = 0;
        if (on_message != Py_None) {
            rc = run_one(host, on_message, session, data);
        }
        Py_DECREF(on_message);
        Py_DECREF(data);
        if (rc < 0) {
            goto fail;
        }
    }
    if (PyErr_Occurred()) {
        goto fail;
    }
    items_close(&data_items);
    Py_RETURN_NONE;
fail:
    items_close(&data_items);
    return NULL;
}

/* sessions.get(sid), as a new reference; NULL with an exception set on
 * failure. */
static PyObject *sessions_get(PyObject *sessions, PyObject *sid) {
    if (PyDict_CheckExact(sessions)) {
        PyObject *found = PyDict_GetItemWithError(sessions, sid);
        if (found == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            found = Py_None;
        }
        Py_INCREF(found);
        return found;
    }
    return PyObject_CallMethodObjArgs(sessions, str_get, sid, NULL);
}

/* dispatch_sessions(server, sids, datas, sessions): messages of several
 * sessions; each one's object comes from ``sessions`` (a dict from session
 * id to object), or from server._session_for(sid) (then stored there)
 * when it has none, looked up when its first message is met. */
static PyObject *dispatch_sessions(PyObject *self, PyObject *args) {
    PyObject *host, *sids, *datas, *sessions;
    if (!PyArg_ParseTuple(args, "OOOO:dispatch_sessions", &host, &sids, &datas, &sessions)) {
        return NULL;
    }
    items sid_items, data_items;
    if (items_open(&sid_items, sids) < 0) {
        return NULL;
    }
    if (items_open(&data_items, datas) < 0) {
        items_close(&sid_items);
        return NULL;
    }
    for (;;) {
        /* zip(sids, datas): stops at the shorter. */
        PyObject *sid = items_next(&sid_items);
        if (sid == NULL) {
            break;
        }
        PyObject *data = items_next(&data_items);
        if (data == NULL) {
            Py_DECREF(sid);
            break;
        }
        int rc = 0;
        PyObject *on_message = PyObject_GetAttr(host, str_on_message_attr);
        if (on_message == NULL) {
            rc = -1;
        } else if (on_message != Py_None) {
            PyObject *session = sessions_get(sessions, sid);
            if (session == Py_None) {
                Py_DECREF(session);
                /* Looked up when first met: see Server._dispatch_messages. */
                session = PyObject_CallMethodObjArgs(host, str_session_for, sid, NULL);
                if (session != NULL && PyObject_SetItem(sessions, sid, session) < 0) {
                    Py_CLEAR(session);
                }
            }
            if (session == NULL) {
                rc = -1;
            } else {
                rc = run_one(host, on_message, session, data);
                Py_DECREF(session);
            }
        }
        Py_XDECREF(on_message);
        Py_DECREF(sid);
        Py_DECREF(data);
        if (rc < 0) {
            goto fail;
        }
    }
    if (PyErr_Occurred()) {
        goto fail;
    }
    items_close(&sid_items);
    items_close(&data_items);
    Py_RETURN_NONE;
fail:
    items_close(&sid_items);
    items_close(&data_items);
    return NULL;
}

/* dispatch_client(client, datas): a client's handler is on_message(data);
 * once it is None, the rest of the batch goes to client._buffer_message
 * (for recv()). */
static PyObject *dispatch_client(PyObject *self, PyObject *args) {
    PyObject *host, *datas;
    if (!PyArg_ParseTuple(args, "OO:dispatch_client", &host, &datas)) {
        return NULL;
    }
    items data_items;
    if (items_open(&data_items, datas) < 0) {
        return NULL;
    }
    PyObject *data;
    while ((data = items_next(&data_items)) != NULL) {
        PyObject *on_message = PyObject_GetAttr(host, str_on_message_attr);
        int rc;
        if (on_message == NULL) {
            rc = -1;
        } else if (on_message == Py_None) {
            PyObject *r = PyObject_CallMethodObjArgs(host, str_buffer_message, data, NULL);
            rc = r == NULL ? -1 : 0;
            Py_XDECREF(r);
        } else {
            rc = run_one(host, on_message, NULL, data);
        }
        Py_XDECREF(on_message);
        Py_DECREF(data);
        if (rc < 0) {
            goto fail;
        }
    }
    if (PyErr_Occurred()) {
        goto fail;
    }
    items_close(&data_items);
    Py_RETURN_NONE;
fail:
    items_close(&data_items);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The module                                                               */
/* ------------------------------------------------------------------------ */

static PyMethodDef accel_methods[] = {
    {"split_messages", split_messages, METH_VARARGS,
     "split_messages(raw, n) -> (sids, datas) or None: the first n events of the bytearray raw, if they are "
     "all non-empty messages with status 0, in order and close together."},
    {"dispatch_session", dispatch_session, METH_VARARGS,
     "dispatch_session(server, session, datas): call server._on_message(session, data) for each data."},
    {"dispatch_sessions", dispatch_sessions, METH_VARARGS,
     "dispatch_sessions(server, sids, datas, sessions): call server._on_message(session, data) for each "
     "message, each session's object looked up in sessions or made by server._session_for."},
    {"dispatch_client", dispatch_client, METH_VARARGS,
     "dispatch_client(client, datas): call client._on_message(data) for each data (buffered for recv() "
     "while there is no handler)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef accel_module = {
    PyModuleDef_HEAD_INIT, "netsys._accel",
    "The netsys package's per-message loops in C (optional: the package runs the same code in pure Python "
    "without it).",
    -1, accel_methods, NULL, NULL, NULL, NULL,
};

static int intern(PyObject **slot, const char *text) {
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__accel(void) {
    if (str_on_message_attr == NULL) {
        if (intern(&str_on_message_attr, "_on_message") < 0 || intern(&str_on_message, "on_message") < 0 ||
            intern(&str_handler_failed, "_handler_failed") < 0 ||
            intern(&str_deliver_result, "_deliver_result") < 0 || intern(&str_session_for, "_session_for") < 0 ||
            intern(&str_buffer_message, "_buffer_message") < 0 || intern(&str_get, "get") < 0) {
            return NULL;
        }
        empty_tuple = PyTuple_New(0);
        if (empty_tuple == NULL) {
            return NULL;
        }
    }
    PyObject *m = PyModule_Create(&accel_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "API_VERSION", ACCEL_API_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "EVENT_SIZE", (long)sizeof(netsys_event)) < 0 ||
        PyModule_AddIntConstant(m, "EVENT_MESSAGE", NETSYS_EVENT_MESSAGE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
