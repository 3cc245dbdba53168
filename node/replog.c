/*
 * replog.c - the write log records in LMDB: append, trim, bounds and scans.
 *
 *   writer txn: put orders ... ─▶ append(lsn, epoch, op, key, value) ─▶ trim oldest ─▶ commit
 *   pull (read txn): cursor SET_RANGE(from_lsn + 1) ─▶ NEXT ... until the byte budget
 *
 * JUMP records (OS_LOG_OP_JUMP, written by slot migration: mig_writer.c) only move the
 * LSN forward: the LSNs between their prev_lsn and their own never exist, so code that
 * looks for "the record before the oldest" asks node_replog_first_prev().
 *
 * Appends use MDB_APPEND (LSNs only grow, so LMDB fills pages sequentially). The byte
 * limit is measured in LMDB pages of the DBI (mdb_stat), which is what the log costs on
 * disk; the number of records to drop is estimated from the average record size.
 */
#include "replog.h"

#include <string.h>

#include "buf.h"
#include "log.h"

#define REC_HDR 11u /* u64 epoch, u8 op, u16 key_len */

static MDB_val mval(const void *p, size_t n)
{
	MDB_val v = {.mv_size = n, .mv_data = (void *)p};
	return v;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t ld_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static int log_err(node_store *st, const char *what, int rc)
{
	return node_store_error(st, what, rc);
}

int node_replog_append(node_store *st, MDB_txn *txn, const os_log_entry *e)
{
	uint8_t kb[8];
	be64(kb, e->lsn);
	MDB_val k = mval(kb, sizeof kb);
	MDB_val v = mval(NULL, REC_HDR + (size_t)e->key_len + e->value_len);
	int rc = mdb_put(txn, node_store_log_dbi(st), &k, &v, MDB_APPEND | MDB_RESERVE);
	if (rc != 0)
		return log_err(st, "write log append", rc);
	uint8_t *p = v.mv_data;
	os_st64(p, e->epoch);
	p[8] = e->op;
	os_st16(p + 9, e->key_len);
	memcpy(p + REC_HDR, e->key, e->key_len);
	if (e->value_len)
		memcpy(p + REC_HDR + e->key_len, e->value, e->value_len);
	return OSTORE_OK;
}

bool node_replog_decode(const MDB_val *k, const MDB_val *v, os_log_entry *e)
{
	if (k->mv_size != 8 || v->mv_size < REC_HDR)
		return false;
	const uint8_t *p = v->mv_data;
	e->lsn = ld_be64(k->mv_data);
	e->epoch = os_ld64(p);
	e->op = p[8];
	e->key_len = os_ld16(p + 9);
	if ((size_t)REC_HDR + e->key_len > v->mv_size)
		return false;
	e->key = p + REC_HDR;
	e->value_len = (uint32_t)(v->mv_size - REC_HDR - e->key_len);
	e->value = e->value_len ? p + REC_HDR + e->key_len : NULL;
	if (e->op == OS_LOG_OP_JUMP)
		return e->key_len == 0 && e->value_len == 8 && os_ld64(e->value) < e->lsn;
	return (e->op == OSTORE_OP_PUT || e->op == OSTORE_OP_DEL) && e->key_len >= 3;
}

int node_replog_trim(node_store *st, MDB_txn *txn, uint64_t max_entries, uint64_t max_bytes,
                     uint64_t pin)
{
	MDB_dbi dbi = node_store_log_dbi(st);
	MDB_stat s;
	int rc = mdb_stat(txn, dbi, &s);
	if (rc != 0)
		return log_err(st, "write log stat", rc);
	if (s.ms_entries == 0)
		return OSTORE_OK;
	uint64_t bytes = (uint64_t)(s.ms_leaf_pages + s.ms_branch_pages + s.ms_overflow_pages) * s.ms_psize;
	uint64_t drop = s.ms_entries > max_entries ? s.ms_entries - max_entries : 0;
	if (bytes > max_bytes) {
		uint64_t avg = bytes / s.ms_entries + 1;
		uint64_t by_bytes = (bytes - max_bytes) / avg + 1;
		if (by_bytes > drop)
			drop = by_bytes;
	}
	if (drop == 0)
		return OSTORE_OK;
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return log_err(st, "write log cursor_open", rc);
	MDB_val k, v;
	int result = OSTORE_OK;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && drop > 0) {
		if (k.mv_size != 8 || ld_be64(k.mv_data) > pin)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		drop--;
		/* After a delete the cursor sits on the following record: NEXT returns it. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		result = log_err(st, "write log trim", rc);
	mdb_cursor_close(cur);
	return result;
}

int node_replog_bounds(node_store *st, MDB_txn *txn, uint64_t *oldest, uint64_t *newest)
{
	*oldest = *newest = 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, node_store_log_dbi(st), &cur);
	if (rc != 0)
		return log_err(st, "write log cursor_open", rc);
	MDB_val k, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == 8) {
		*oldest = ld_be64(k.mv_data);
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		if (rc == 0 && k.mv_size == 8)
			*newest = ld_be64(k.mv_data);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return log_err(st, "write log bounds", rc);
	return OSTORE_OK;
}

int node_replog_epoch_at(node_store *st, MDB_txn *txn, uint64_t lsn, uint64_t *epoch)
{
	uint8_t kb[8];
	be64(kb, lsn);
	MDB_val k = mval(kb, sizeof kb), v;
	int rc = mdb_get(txn, node_store_log_dbi(st), &k, &v);
	if (rc == MDB_NOTFOUND)
		return OSTORE_ENOTFOUND;
	if (rc != 0)
		return log_err(st, "write log get", rc);
	os_log_entry e;
	if (!node_replog_decode(&k, &v, &e)) {
		OS_ERROR("msg=\"corrupt write log record\" lsn=%llu", (unsigned long long)lsn);
		return OSTORE_ESTORAGE;
	}
	*epoch = e.epoch;
	return OSTORE_OK;
}

int node_replog_scan(node_store *st, MDB_txn *txn, uint64_t after, node_replog_fn fn,
                     void *arg)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, node_store_log_dbi(st), &cur);
	if (rc != 0)
		return log_err(st, "write log cursor_open", rc);
	uint8_t kb[8];
	be64(kb, after + 1);
	MDB_val k = mval(kb, sizeof kb), v;
	int result = OSTORE_OK;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		os_log_entry e;
		if (!node_replog_decode(&k, &v, &e)) {
			OS_ERROR("msg=\"corrupt write log record\" key_len=%zu", k.mv_size);
			result = OSTORE_ESTORAGE;
			break;
		}
		if (!fn(arg, &e))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND && result == OSTORE_OK)
		result = log_err(st, "write log scan", rc);
	mdb_cursor_close(cur);
	return result;
}

int node_replog_first_prev(node_store *st, MDB_txn *txn, uint64_t oldest, uint64_t *prev)
{
	*prev = oldest > 0 ? oldest - 1 : 0;
	if (oldest == 0)
		return OSTORE_OK;
	uint8_t kb[8];
	be64(kb, oldest);
	MDB_val k = mval(kb, sizeof kb), v;
	int rc = mdb_get(txn, node_store_log_dbi(st), &k, &v);
	if (rc == MDB_NOTFOUND)
		return OSTORE_OK;
	if (rc != 0)
		return log_err(st, "write log get", rc);
	os_log_entry e;
	if (!node_replog_decode(&k, &v, &e)) {
		OS_ERROR("msg=\"corrupt write log record\" lsn=%llu", (unsigned long long)oldest);
		return OSTORE_ESTORAGE;
	}
	if (e.op == OS_LOG_OP_JUMP)
		*prev = os_ld64(e.value);
	return OSTORE_OK;
}
