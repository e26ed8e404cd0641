"""Section 3.6 of docs/protocol.md, server side: early data behind HELLO is
processed like DATA after WELCOME. (The client side is in
test_netsys_clients.py.)"""

from peer import wire
from peer.conn import Conn
from peer.expect import read_close, rule


@rule("R-3.10", "R-3.9")
def test_R_3_10_early_data_is_delivered_in_order(server):
    with Conn.connect(server.port) as c:
        msgs = [b"early-%d" % i for i in range(8)] + [b"e" * 60_000]
        c.send(wire.hello() + b"".join(wire.data(m) for m in msgs))
        assert c.read_frame().type == wire.WELCOME
        c.open = True
        got = [c.read_frame().payload for _ in msgs]
        assert got == msgs, "early messages were not delivered in order, exactly once"


@rule("R-3.10", "R-5.2")
def test_R_3_10_early_data_is_checked_against_the_servers_limit(pool, impl):
    s = pool.get(impl, max_message=1000)
    with Conn.connect(s.port) as c:
        c.send(wire.hello() + wire.data(b"ok") + wire.data(b"x" * 2000))
        f = c.read_frame()
        assert f.type == wire.WELCOME, f"the server must answer WELCOME before judging early data: {f.describe()}"
        c.open = True
        f, before = read_close(c, 1009, "message too large: 2000 > 1000")
        assert [b.payload for b in before] == [b"ok"], [b.describe() for b in before]
