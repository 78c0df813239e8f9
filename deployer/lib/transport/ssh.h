/* ssh.h - the `ssh` transport backend (libssh2).  transport_ssh_open() is
 * declared in transport.h; this header holds what only the backend and its
 * tests need.
 *
 * One non-blocking libssh2 session per host, driven with poll(): every
 * operation runs against a wall-clock deadline (connect: the connect timeout
 * covers TCP connect, handshake, host key check and authentication; after
 * that each operation fails when it makes no progress for op_timeout_ms), so
 * a server that accepts TCP and never speaks, or a host that vanishes
 * mid-transfer, fails within the timeout instead of hanging.  Keepalives are
 * sent every SSH_KEEPALIVE_S seconds while we wait.
 *
 * Remote programs are started with "exec" and one command line built by
 * shell_quote_argv() (shellquote.h) from the argv.
 */
#ifndef SHOAL_SSH_H
#define SHOAL_SSH_H

#define SSH_KEEPALIVE_S 15

/* Cipher and MAC preference, fastest first.  The AEAD ciphers lead for a
 * libssh2 that has them; 1.10 (Debian 12) has only CTR/CBC, where
 * aes128-ctr + hmac-sha2-256 measured fastest (docs/performance.md, "Push").
 * Names this libssh2 lacks are skipped. */
#define SSH_CIPHER_PREF \
	"aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr,aes192-ctr"
#define SSH_MAC_PREF \
	"hmac-sha2-256-etm@openssh.com,hmac-sha2-256,hmac-sha1,hmac-sha2-512"
#define SSH_HOSTKEY_PREF \
	"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa"

/* Bytes of SFTP write requests kept in flight (libssh2 splits them into
 * 30000-byte packets and pipelines them): at most SSH_SFTP_WINDOW, the
 * server's whole channel window when the open took SSH_SFTP_LONG_RTT_MS or
 * more, else half of it up to SSH_SFTP_SHORT_WINDOW (sftp_window() in ssh.c
 * says why).  $SHOAL_SFTP_WINDOW overrides it (bench/push_bench.sh). */
#define SSH_SFTP_WINDOW (4u << 20)
#define SSH_SFTP_SHORT_WINDOW (1u << 20)
#define SSH_SFTP_LONG_RTT_MS 5

#endif
