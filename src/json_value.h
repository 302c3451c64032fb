/*
 * json_value.h
 *		Reading typed scalars out of jsonb values, with errors that name the key.
 */
#ifndef ISOFOREST_JSON_VALUE_H
#define ISOFOREST_JSON_VALUE_H

#include "utils/jsonb.h"

/* Who is reading: the SQLSTATE and the message an error carries. */
typedef struct JsonReader
{
	int			errcode;
	const char *errmsg_text;
} JsonReader;

extern int64 JsonReadInt(const JsonReader *r, const JsonbValue *v, const char *what,
						 int64 min, int64 max);
extern double JsonReadDouble(const JsonReader *r, const JsonbValue *v, const char *what);
extern char *JsonReadString(const JsonReader *r, const JsonbValue *v, const char *what);
extern JsonbContainer *JsonReadArray(const JsonReader *r, const JsonbValue *v,
									 const char *what, int32 *len);
extern JsonbContainer *JsonReadObject(const JsonReader *r, const JsonbValue *v, const char *what);

#endif							/* ISOFOREST_JSON_VALUE_H */
