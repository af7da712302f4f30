/* message_int.h — what the two halves of the bus codec share (message.c encodes, message_decode.c
 * decodes): the limits of schema v1 and the UTF-8 rule every string on the bus obeys. */
#ifndef AGENT_MESSAGE_INT_H
#define AGENT_MESSAGE_INT_H

#include <stddef.h>

/* Limits of schema v1 (bus-schema.md). They bound what one hostile message can cost: the
 * decoder's allocations stay proportional to the input, which is itself capped. */
#define MSG_MAX_BYTES (1u << 20)
#define MSG_MAX_STR (64u * 1024)
#define MSG_MAX_ACTIONS 64
#define MSG_MAX_MEASURES 64
#define MSG_MAX_KV 64
#define MSG_MAX_COMPONENTS 16
/* what one previewed step may list (preview.h keeps it below this) */
#define MSG_MAX_TOUCHES 128
/* Containers nested deeper than this are refused before msgpack-c sees them (its own stack is
 * 32 deep); v1 itself needs 4 (message > actions > action > params). */
#define MSG_MAX_DEPTH 16
/* Array and map elements in one message, counted before unpacking: msgpack-c allocates a
 * container's slots up front, so an unchecked "array of 4 billion" header would ask for 96 GB. */
#define MSG_MAX_ELEMENTS 65536

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, nothing
 * past U+10FFFF), or 0 when the bytes there are not one; NUL is refused too. */
size_t msg_utf8_seq(const unsigned char *s, size_t n);
/* Length of the longest prefix of str[0..n) that is well-formed UTF-8 without NUL. */
size_t msg_utf8_check(const char *str, size_t n);

#endif
