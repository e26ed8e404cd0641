package core

// benchOpen opens c as a handshake would, without transforms or codec.
func benchOpen(c *conn) { c.markOpen(&connParams{peerMax: c.cfg.MessageSizeLimit}, 0) }
