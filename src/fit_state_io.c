/*
 * fit_state_io.c
 *		Text and binary I/O of isoforest.fit_state, the aggregate's state.
 *
 * Citus ships partial aggregate states between nodes as text, so the text
 * form must be exact: it is the portable binary form (network byte order,
 * field by field) in base64.  Both inputs validate before returning.
 */
#include "postgres.h"

#include "common/base64.h"
#include "fmgr.h"
#include "libpq/pqformat.h"

#include "fit_state.h"

PG_FUNCTION_INFO_V1(isoforest_fit_state_in);
PG_FUNCTION_INFO_V1(isoforest_fit_state_out);
PG_FUNCTION_INFO_V1(isoforest_fit_state_recv);
PG_FUNCTION_INFO_V1(isoforest_fit_state_send);

/* Text input: base64 of the portable form. */
Datum
isoforest_fit_state_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	int			len = strlen(text);
	StringInfoData buf;
	int			decoded;

	initStringInfo(&buf);
	enlargeStringInfo(&buf, pg_b64_dec_len(len));
	decoded = pg_b64_decode(text, len, buf.data, buf.maxlen);
	if (decoded < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type isoforest.fit_state"),
				 errdetail("The value is not base64.")));
	buf.len = decoded;
	PG_RETURN_POINTER(FitStateReceive(&buf, ERRCODE_INVALID_TEXT_REPRESENTATION));
}

/* Text output: base64 of the portable form. */
Datum
isoforest_fit_state_out(PG_FUNCTION_ARGS)
{
	FitState   *s = (FitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	char	   *text;
	int			len;

	initStringInfo(&buf);
	FitStateSend(&buf, s);
	text = palloc(pg_b64_enc_len(buf.len) + 1);
	len = pg_b64_encode(buf.data, buf.len, text, pg_b64_enc_len(buf.len));
	text[len] = '\0';
	PG_RETURN_CSTRING(text);
}

/* Binary input. */
Datum
isoforest_fit_state_recv(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(FitStateReceive((StringInfo) PG_GETARG_POINTER(0),
									  ERRCODE_INVALID_BINARY_REPRESENTATION));
}

/* Binary output. */
Datum
isoforest_fit_state_send(PG_FUNCTION_ARGS)
{
	FitState   *s = (FitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	FitStateSend(&buf, s);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}
