/*
 * feature_parse.c
 *		Parsing feature text: a column name, optionally wrapped in one
 *		transform: total_release_kg, log1p(total_release_kg), label("Industry").
 *
 * The text is parsed here, never executed as SQL.  Column names follow SQL
 * identifier rules: unquoted names are folded to lower case, quoted names
 * are taken as written ("" stands for one double quote).
 */
#include "isoforest.h"

#include "funcapi.h"
#include "parser/scansup.h"
#include "utils/builtins.h"

#include "feature_spec.h"

PG_FUNCTION_INFO_V1(isoforest_parse_feature);

#define PARSE_ERROR(text, ...) \
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
					errmsg("invalid feature \"%s\"", text), errdetail(__VA_ARGS__), \
					errhint("Write a column name, optionally wrapped in one transform: log1p(col), ln(col), sqrt(col) or label(col).")))

static const char *
skip_space(const char *p)
{
	while (scanner_isspace(*p))
		p++;
	return p;
}

/* Read one identifier at *p (quoted or not); advance *p past it. */
static char *
read_identifier(const char **p, const char *text)
{
	const char *s = *p;
	StringInfoData buf;

	initStringInfo(&buf);
	if (*s == '"')
	{
		s++;
		for (;;)
		{
			if (*s == '\0')
				PARSE_ERROR(text, "A quoted name is not closed.");
			if (*s == '"')
			{
				if (s[1] != '"')
					break;
				s++;
			}
			appendStringInfoChar(&buf, *s++);
		}
		s++;
		if (buf.len == 0)
			PARSE_ERROR(text, "A quoted name is empty.");
	}
	else
	{
		const char *start = s;

		while (*s != '\0' && (isalnum((unsigned char) *s) || *s == '_' || *s == '$' ||
							  IS_HIGHBIT_SET(*s)))
			s++;
		if (s == start || isdigit((unsigned char) *start) || *start == '$')
			PARSE_ERROR(text, "Expected a column name at \"%s\".", start);
		appendStringInfoString(&buf, downcase_identifier(start, s - start, false, false));
	}
	*p = s;
	return buf.data;
}

/* Parse feature text into its transform and column name. */
void
FeatureParse(const char *text, int32 *transform, char **column)
{
	const char *p = skip_space(text);
	bool		was_quoted = *p == '"';
	char	   *first = read_identifier(&p, text);

	p = skip_space(p);
	if (*p == '(' && !was_quoted)
	{
		*transform = IsoForestTransformFromName(first);
		if (*transform < 0 || *transform == ISOFOREST_TRANSFORM_NONE)
			PARSE_ERROR(text, "Unknown transform \"%s\".", first);
		p = skip_space(p + 1);
		*column = read_identifier(&p, text);
		p = skip_space(p);
		if (*p != ')')
			PARSE_ERROR(text, "Expected \")\" after the column name.");
		p = skip_space(p + 1);
	}
	else
	{
		*transform = ISOFOREST_TRANSFORM_NONE;
		*column = first;
	}
	if (*p != '\0')
		PARSE_ERROR(text, "Unexpected text \"%s\" after the feature.", p);
}

/* The text form of a feature: col, or transform(col), quoting the name when needed. */
char *
FeatureDeparse(int32 transform, const char *column)
{
	const char *quoted = quote_identifier(column);

	if (transform == ISOFOREST_TRANSFORM_NONE)
		return pstrdup(quoted);
	return psprintf("%s(%s)", IsoForestTransformName(transform), quoted);
}

/* isoforest.parse_feature(text) -> (transform text, column_name text) */
Datum
isoforest_parse_feature(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int32		transform;
	char	   *column;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "isoforest_parse_feature must return a composite type");
	FeatureParse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &transform, &column);
	values[0] = CStringGetTextDatum(IsoForestTransformName(transform));
	values[1] = CStringGetTextDatum(column);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
