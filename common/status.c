/*
 * status.c - texts and names of the one orderstore status enum, and the version string.
 *
 * Both tables are generated from OSTORE_STATUS_TABLE (orderstore.h), so a code, its
 * name and its text are written in exactly one place.
 */
#include <orderstore.h>

#include "ostore_build.h"

static const char *const status_text[OSTORE_STATUS_COUNT] = {
#define OSTORE_X_TEXT(name, code, text) [code] = text,
	OSTORE_STATUS_TABLE(OSTORE_X_TEXT)
#undef OSTORE_X_TEXT
};

static const char *const status_name[OSTORE_STATUS_COUNT] = {
#define OSTORE_X_NAME(name, code, text) [code] = #name,
	OSTORE_STATUS_TABLE(OSTORE_X_NAME)
#undef OSTORE_X_NAME
};

const char *ostore_strerror(int st)
{
	if (st < 0 || st >= OSTORE_STATUS_COUNT || status_text[st] == NULL)
		return "unknown error";
	return status_text[st];
}

const char *ostore_status_name(int st)
{
	if (st < 0 || st >= OSTORE_STATUS_COUNT || status_name[st] == NULL)
		return "OSTORE_UNKNOWN";
	return status_name[st];
}

const char *ostore_version_string(void)
{
	return OSTORE_VERSION;
}
