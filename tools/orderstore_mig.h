/*
 * orderstore_mig.h - the slot-migration frames as blocking calls (tools/ only), one
 * request and its reply over cli_rpc (common/wire.h "Slot migration (rebalance)").
 *
 * Every call sends the caller's map @epoch and its run id @run (header client_id: the
 * migration lease's holder, wire.h "MIG_LEASE"; 0 for read-only calls outside a run)
 * in the header, waits up to @timeout_ms and
 * returns OSTORE_OK, the peer's status (OSTORE_ESTALE, OSTORE_EMOVED, OSTORE_ERESEED,
 * OSTORE_ENOTPRIMARY, OSTORE_EINVAL, OSTORE_ELOCKED, ...), a transport error (OSTORE_ETIMEDOUT,
 * OSTORE_ECONNECT), OSTORE_EPROTO (the reply does not decode) or OSTORE_ENOMEM.
 *
 * Thread safety: each call uses its own socket; calls may run in parallel threads.
 */
#ifndef OS_CLI_MIG_H
#define OS_CLI_MIG_H

#include <stdint.h>

#include "orderstore_cli.h"

/**
 * One MIG_SNAP or MIG_LOG reply: the reply bytes (owned) and its entries, which point
 * into them. Snapshot entries are given in the MIG_APPLY layout: op PUT, lsn = the
 * order's version, key = the LMDB key (slot BE + id).
 */
typedef struct cli_mig_page {
	cli_reply reply;
	os_log_entry *entries; /* @count entries, malloc'ed */
	uint16_t count;
	os_snap_head snap;    /* MIG_SNAP only */
	os_mig_log_head log;  /* MIG_LOG only */
} cli_mig_page;

/** cli_mig_page_free - release a page filled by cli_mig_snap / cli_mig_log (zeroed;
 *  safe twice). Cannot fail. */
void cli_mig_page_free(cli_mig_page *p);

/**
 * cli_mig_snap - one MIG_SNAP page of @req's range from the source primary @url.
 * On OSTORE_OK *out holds the page (free with cli_mig_page_free); otherwise *out is
 * empty. OSTORE_ERESEED: the session expired (open a new one); OSTORE_EOVERLOAD: no free
 * session now.
 */
int cli_mig_snap(const char *url, uint64_t run, uint64_t epoch, const os_mig_snap_req *req,
                 uint32_t timeout_ms, cli_mig_page *out);

/**
 * cli_mig_log - one MIG_LOG page (the range's log records after req->from_lsn) from the
 * source primary @url. On OSTORE_OK *out holds the page (free with cli_mig_page_free),
 * out->log its head; otherwise *out is empty. OSTORE_ERESEED: records after from_lsn are
 * gone (copy again from a new snapshot).
 */
int cli_mig_log(const char *url, uint64_t run, uint64_t epoch, const os_mig_log_req *req,
                uint32_t timeout_ms, cli_mig_page *out);

/**
 * cli_mig_freeze - MIG_FREEZE @op (os_mig_freeze_op) of [@begin, @end) on @url. On
 * OSTORE_OK *lsn is the node's LSN (after a freeze: every write of the range is at or
 * below it) and @bitmap (OS_MIG_BITMAP_SIZE bytes, may be NULL) the frozen slots after
 * the operation.
 */
int cli_mig_freeze(const char *url, uint64_t run, uint64_t epoch, uint8_t op, uint16_t begin, uint16_t end,
                   uint32_t timeout_ms, uint64_t *lsn, uint8_t *bitmap);

/**
 * cli_mig_apply - MIG_APPLY @count entries (1..65535, every key's slot in [@begin, @end))
 * to the destination primary @url, which commits them in one transaction. On OSTORE_OK
 * *lsn (may be NULL) is its LSN after the commit. The entries stay the caller's.
 */
int cli_mig_apply(const char *url, uint64_t run, uint64_t epoch, uint64_t cluster_id, uint16_t begin,
                  uint16_t end, const os_log_entry *entries, uint16_t count,
                  uint32_t timeout_ms, uint64_t *lsn);

/**
 * cli_mig_purge - MIG_PURGE: @url deletes up to @max_orders (1..65535) orders of
 * [@begin, @end), a range it owns no slot of. On OSTORE_OK *deleted and *more (1 = some
 * remain) are its answer.
 */
int cli_mig_purge(const char *url, uint64_t run, uint64_t epoch, uint64_t cluster_id, uint16_t begin,
                  uint16_t end, uint32_t max_orders, uint32_t timeout_ms, uint32_t *deleted,
                  uint32_t *more);

/**
 * cli_mig_lease - MIG_LEASE on @url for run @run: @ttl_ms 0 releases (or, for a lease
 * another run holds, only reads it), otherwise takes or renews it; @flags
 * OS_MIG_LEASE_F_RENEW renews only. Returns OSTORE_OK or OSTORE_ELOCKED with *holder
 * and *remaining_ms (may be NULL) from the reply, or another error (then they are 0).
 */
int cli_mig_lease(const char *url, uint64_t run, uint32_t ttl_ms, uint32_t flags,
                  uint32_t timeout_ms, uint64_t *holder, uint32_t *remaining_ms);

#endif /* OS_CLI_MIG_H */
