/*
 * json_value.c
 *		Typed scalars out of jsonb values: integers that must be integers,
 *		doubles that must be finite, strings without NUL.
 *
 * Numbers are read through numeric's exact decimal text and strtod, so a
 * double written in shortest round-trip form comes back with the same bits.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/numeric.h"

#include "json_value.h"

#define READ_ERROR(r, ...) \
	ereport(ERROR, (errcode((r)->errcode), errmsg("%s", (r)->errmsg_text), errdetail(__VA_ARGS__)))

/* A number's text for an error message: long ones are cut. */
static const char *
shown(const char *s)
{
	return strlen(s) <= 40 ? s : psprintf("%.20s... (%zu digits)", s, strlen(s));
}

/* The exact decimal text of a JSON number, or an error naming the key. */
static char *
number_text(const JsonReader *r, const JsonbValue *v, const char *what)
{
	if (v->type != jbvNumeric)
		READ_ERROR(r, "\"%s\" must be a number.", what);
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
}

/* A JSON number that must be an integer in [min, max]. */
int64
JsonReadInt(const JsonReader *r, const JsonbValue *v, const char *what, int64 min, int64 max)
{
	char	   *s = number_text(r, v, what);
	char	   *end;
	long long	x;

	errno = 0;
	x = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0)
		READ_ERROR(r, "\"%s\" must be an integer, not %s.", what, shown(s));
	if (x < min || x > max)
		READ_ERROR(r, "\"%s\" is %lld; it must be between " INT64_FORMAT " and " INT64_FORMAT ".",
				   what, x, min, max);
	return (int64) x;
}

/* A JSON number that must be a finite double. */
double
JsonReadDouble(const JsonReader *r, const JsonbValue *v, const char *what)
{
	char	   *s = number_text(r, v, what);
	char	   *end;
	double		x;

	errno = 0;
	x = strtod(s, &end);
	if (*end != '\0' || !isfinite(x) || (errno == ERANGE && fabs(x) > 1.0))
		READ_ERROR(r, "\"%s\" is not a finite float8: %s.", what, shown(s));
	return x;
}

/* A JSON string, copied out. */
char *
JsonReadString(const JsonReader *r, const JsonbValue *v, const char *what)
{
	if (v->type != jbvString)
		READ_ERROR(r, "\"%s\" must be a string.", what);
	if (memchr(v->val.string.val, '\0', v->val.string.len) != NULL)
		READ_ERROR(r, "\"%s\" contains a NUL character.", what);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The container of a JSON array, with its length. */
JsonbContainer *
JsonReadArray(const JsonReader *r, const JsonbValue *v, const char *what, int32 *len)
{
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		READ_ERROR(r, "\"%s\" must be an array.", what);
	*len = (int32) JsonContainerSize(v->val.binary.data);
	return v->val.binary.data;
}

/* The container of a JSON object. */
JsonbContainer *
JsonReadObject(const JsonReader *r, const JsonbValue *v, const char *what)
{
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		READ_ERROR(r, "\"%s\" must be an object.", what);
	return v->val.binary.data;
}
