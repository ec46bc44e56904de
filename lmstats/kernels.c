/* lmstats' hot loops in C, built by `pip install` when a C compiler is there (setup.py,
 * optional) and called through ctypes (lmstats/native.py), so a process that scores starts no JIT; without it numba compiles the same loops.
 *
 * Each function is the numba function of the same name, statement for statement:
 *   lm_score  ~ lmstats/ngram/kernel.py `_score` (probabilities of every token of a piece);
 *   lm_scan   ~ lmstats/text/scan.py `_scan` (UTF-8 text to vocabulary ids);
 *   lm_compact_score ~ lmstats/ngram/compact_kernel.py `_score` (a compact model's trie search and probabilities).
 * The floating-point operations are the same and in the same order (no -ffast-math), so the results
 * are bit for bit numba's and the numpy scorers' (tests/test_scoring_kernel.py, test_textscan.py and
 * test_compact.py run every case on both).  Every read the numba code bounds is bounded here, so a
 * damaged compact model reads nothing out of bounds.  None touches Python objects: ctypes releases the GIL around the call, so pieces are scored on several threads. */

#include <stdint.h>

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x100000001B3ULL

/* The row of `key` in the sorted `keys` (-1 if absent): linear probes of a KeyIndex slot table when
 * there is one (n_slots > 0), else a binary search. */
static inline int64_t row_of(const int64_t *keys, int64_t n, const int32_t *slots, int64_t n_slots, int64_t bits, int64_t key)
{
    if (n == 0)
        return -1;
    if (n_slots > 0) {
        int64_t probe = (int64_t)(((uint64_t)key * GOLDEN) >> (64 - bits));
        for (;;) {
            int64_t r = slots[probe];
            if (r < 0)
                return -1;
            if (keys[r] == key)
                return r;
            probe++;
        }
    }
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if (keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < n && keys[lo] == key) ? lo : -1;
}

#define AHEAD_SLOT 16 /* tokens ahead whose hash slot is fetched into the cache */
#define AHEAD_KEY 8    /* tokens ahead whose key (at the row the slot names) is fetched */

/* Each key of row[lo..hi) (-1: none) replaced by its row in the table (-1 if absent), as row_of.  The lookups are
 * independent, so the cache lines of later ones are requested while this one is resolved (the slot AHEAD_SLOT tokens on,
 * then that token's key once its slot is in): the memory latencies overlap instead of adding up.  Same rows as row_of. */
static void resolve_rows(const int64_t *keys, int64_t n, const int32_t *slots, int64_t n_slots, int64_t bits, int64_t *row, int64_t lo,
                         int64_t hi)
{
    if (n_slots <= 0 || n == 0) {
        for (int64_t t = lo; t < hi; t++)
            row[t] = row[t] >= 0 ? row_of(keys, n, slots, n_slots, bits, row[t]) : -1;
        return;
    }
    int shift = (int)(64 - bits);
    for (int64_t t = lo; t < hi; t++) {
        if (t + AHEAD_SLOT < hi && row[t + AHEAD_SLOT] >= 0)
            __builtin_prefetch(&slots[((uint64_t)row[t + AHEAD_SLOT] * GOLDEN) >> shift]);
        if (t + AHEAD_KEY < hi && row[t + AHEAD_KEY] >= 0) {
            int32_t r = slots[((uint64_t)row[t + AHEAD_KEY] * GOLDEN) >> shift];
            if (r >= 0)
                __builtin_prefetch(&keys[r]);
        }
        row[t] = row[t] >= 0 ? row_of(keys, n, slots, n_slots, bits, row[t]) : -1;
    }
}

/* Ask for the cache lines lm_score's last pass reads at token t: the probability of the highest order found and the
 * backoff weights of the contexts above it (order 2's context is a word: its small table stays cached). */
static inline void prefetch_values(const int64_t *rows, int64_t stride, int64_t t, int64_t order, const double *const *probs,
                                   const double *const *backoffs)
{
    int64_t top = 1;
    for (int64_t k = order; k >= 2; k--) {
        int64_t g = rows[(k - 1) * stride + t];
        if (g >= 0) {
            __builtin_prefetch(&probs[k - 1][g]);
            top = k;
            break;
        }
    }
    for (int64_t k = top + 1 > 3 ? top + 1 : 3; k <= order; k++) {
        int64_t h = rows[(k - 2) * stride + t - 1];
        if (h >= 0)
            __builtin_prefetch(&backoffs[k - 2][h]);
    }
}

/* P of every token of every line of a piece into `out`; `rows` (order x stride) is scratch space.
 * Per order k (index k-1): keys[k-1] (n_keys), slots[k-1] (n_slots, bits), probs[k-1], backoffs[k-1]
 * (order 1's keys and slots and the last backoffs are not read). */
void lm_score(const int32_t *ids, const int64_t *bounds, int64_t n_lines, int64_t depth0, int64_t bos_id, int64_t vocab_size,
              int64_t order, const int64_t *const *keys, const int64_t *n_keys, const int32_t *const *slots, const int64_t *n_slots,
              const int64_t *bits, const double *const *probs, const double *const *backoffs, int64_t low_mode, double gamma_unseen,
              double uniform, const uint8_t *mask, int64_t *rows, int64_t stride, double *out)
{
    for (int64_t k = 2; k <= order; k++) {
        const int64_t *table = keys[k - 1];
        int64_t *row_k = rows + (k - 1) * stride;
        const int64_t *row_below = rows + (k - 2) * stride;
        for (int64_t line = 0; line < n_lines; line++) {
            int64_t start = bounds[line];
            int64_t base = start - (line == 0 ? depth0 : 0) - 1;
            for (int64_t t = start; t < bounds[line + 1]; t++) {
                int64_t depth = t - base;
                if (depth < k - 1) {
                    row_k[t] = -1;
                    continue;
                }
                int64_t h;
                if (depth == 1)
                    h = bos_id;
                else if (t == 0)
                    h = -1;
                else
                    h = (k == 2) ? (int64_t)ids[t - 1] : row_below[t - 1];
                row_k[t] = h >= 0 ? h * vocab_size + (int64_t)ids[t] : -1; /* the key, looked up below */
            }
        }
        resolve_rows(table, n_keys[k - 1], slots[k - 1], n_slots[k - 1], bits[k - 1], row_k, bounds[0], bounds[n_lines]);
    }
    int64_t end = bounds[n_lines];
    for (int64_t line = 0; line < n_lines; line++) {
        int64_t start = bounds[line];
        int64_t base = start - (line == 0 ? depth0 : 0) - 1;
        for (int64_t t = start; t < bounds[line + 1]; t++) {
            if (t + AHEAD_KEY < end) /* the values read AHEAD_KEY tokens on (a hint: a row of another line is a row too) */
                prefetch_values(rows, stride, t + AHEAD_KEY, order, probs, backoffs);
            int64_t w = ids[t];
            int64_t depth = t - base;
            int64_t kmax = depth + 1 < order ? depth + 1 : order; /* the orders the context reaches */
            int64_t top = 1; /* the highest order found: the orders below it are not read, as their values would be replaced */
            for (int64_t k = kmax; k >= 2; k--) {
                if (rows[(k - 1) * stride + t] >= 0) {
                    top = k;
                    break;
                }
            }
            double p1 = probs[0][w];
            double p = top == 1 ? p1 : probs[top - 1][rows[(top - 1) * stride + t]];
            for (int64_t k = top + 1; k <= kmax; k++) { /* not found: backed off, in the same order as numba's loop */
                int64_t h;
                if (depth == 1)
                    h = (k == 2) ? bos_id : -1;
                else if (t == 0)
                    h = -1;
                else
                    h = (k == 2) ? (int64_t)ids[t - 1] : rows[(k - 2) * stride + t - 1];
                double gamma = h >= 0 ? backoffs[k - 2][h] : gamma_unseen;
                double low = low_mode == 0 ? p : (low_mode == 1 ? p1 : uniform);
                p = gamma * low;
            }
            out[t] = mask[w] ? p : 0.0;
        }
    }
}

/* Length in bytes of the whitespace character at data[i] (0 if it is not whitespace), as str.isspace. */
static inline int64_t space_len(const uint8_t *data, int64_t i, int64_t n)
{
    uint8_t b = data[i];
    if (b == 32 || (9 <= b && b <= 13) || (28 <= b && b <= 31))
        return 1;
    if (b < 0xC2 || i + 1 >= n)
        return 0;
    uint8_t c = data[i + 1];
    if (b == 0xC2)
        return (c == 0x85 || c == 0xA0) ? 2 : 0; /* U+0085, U+00A0 */
    if (i + 2 >= n)
        return 0;
    uint8_t d = data[i + 2];
    if (b == 0xE1)
        return (c == 0x9A && d == 0x80) ? 3 : 0; /* U+1680 */
    if (b == 0xE2) {
        if (c == 0x80 && ((0x80 <= d && d <= 0x8A) || d == 0xA8 || d == 0xA9 || d == 0xAF)) /* U+2000..200A, 2028, 2029, 202F */
            return 3;
        return (c == 0x81 && d == 0x9F) ? 3 : 0; /* U+205F */
    }
    if (b == 0xE3)
        return (c == 0x80 && d == 0x80) ? 3 : 0; /* U+3000 */
    return 0;
}

/* Ids of every word of `data` into `ids` and words per line into `lengths`; counts[0] = words, counts[1] = lines.
 * classes: 0 part of a word, 1 ASCII whitespace, 2 '\n', 3 may start a Unicode space. */
void lm_scan(const uint8_t *data, int64_t n, const uint8_t *classes, const int32_t *slots, int64_t bits, const uint8_t *strings,
             const int64_t *offsets, const int32_t *entry_ids, int32_t unk_id, int32_t *ids, int64_t *lengths, int64_t *counts)
{
    int shift = (int)(64 - bits);
    int64_t n_words = 0, n_lines = 0, in_line = 0;
    int line_open = 0;
    int64_t i = 0;
    while (i < n) {
        uint8_t c = classes[data[i]];
        if (c == 2) {
            lengths[n_lines++] = in_line;
            in_line = 0;
            line_open = 0;
            i++;
            continue;
        }
        line_open = 1;
        if (c == 1) {
            i++;
            continue;
        }
        if (c == 3) {
            int64_t skip = space_len(data, i, n);
            if (skip) {
                i += skip;
                continue;
            }
        }
        int64_t start = i;
        uint64_t h = FNV_OFFSET;
        for (;;) {
            h = (h ^ (uint64_t)data[i]) * FNV_PRIME;
            i++;
            if (i >= n)
                break;
            c = classes[data[i]];
            if (c == 1 || c == 2 || (c == 3 && space_len(data, i, n) > 0))
                break;
        }
        int64_t probe = (int64_t)(h >> shift);
        int32_t word = unk_id;
        while (slots[probe] >= 0) {
            int64_t e = slots[probe];
            int64_t a = offsets[e], b = offsets[e + 1];
            if (b - a == i - start) {
                int same = 1;
                for (int64_t j = 0; j < b - a; j++) {
                    if (strings[a + j] != data[start + j]) {
                        same = 0;
                        break;
                    }
                }
                if (same) {
                    word = entry_ids[e];
                    break;
                }
            }
            probe++;
        }
        ids[n_words++] = word;
        in_line++;
    }
    if (line_open)
        lengths[n_lines++] = in_line;
    counts[0] = n_words;
    counts[1] = n_lines;
}

/* ---- The compact model's scorer: lmstats/ngram/compact_kernel.py `_score` and its helpers ---- */

/* The columns of an order's layout row (compact_kernel.RECORD ... SHIFT) and the search group. */
enum { RECORD, WORD_OFF, WORD_W, PROB_OFF, PROB_W, BACK_OFF, BACK_W, NEXT_OFF, NEXT_W, ROWS, CODED, SHIFT, LAYOUT_COLUMNS };
#define GROUP 32
#define SPLIT_MIX 0xBF58476D1CE4E5B9ULL

/* The `width`-bit field (at most 63 bits) starting at bit `pos` of `words` (a word of padding ends the array). */
static inline int64_t read_bits(const uint64_t *words, int64_t pos, int64_t width)
{
    int64_t i = pos >> 6;
    uint64_t shift = (uint64_t)(pos & 63);
    uint64_t value = (words[i] >> shift) | ((words[i + 1] << (63 - shift)) << 1);
    return (int64_t)(value & ((1ULL << width) - 1));
}

/* The trie's code of word id `w`: a bijection of 0..2^bits - 1. */
static inline int64_t word_code(int64_t w, int64_t bits)
{
    uint64_t mask = (1ULL << bits) - 1;
    uint64_t r = (uint64_t)((bits + 1) >> 1);
    uint64_t x = ((uint64_t)w * GOLDEN) & mask;
    x ^= x >> r;
    x = (x * SPLIT_MIX) & mask;
    x ^= x >> r;
    return (int64_t)x;
}

/* The rows [*begin, *end) of the next order that extend row `h`, clamped to next_rows; empty for a row out of bounds. */
static inline void children(const uint64_t *words, const int64_t *lay, const int64_t *base, int64_t h, int64_t next_rows,
                            int64_t *begin, int64_t *end)
{
    if (h < 0 || h >= lay[ROWS]) {
        *begin = 0;
        *end = 0;
        return;
    }
    int64_t shift = lay[SHIFT], record = lay[RECORD], offset = lay[NEXT_OFF], width = lay[NEXT_W];
    int64_t b = base[h >> shift] + read_bits(words, h * record + offset, width);
    int64_t e = base[(h + 1) >> shift] + read_bits(words, (h + 1) * record + offset, width);
    *begin = b > 0 ? b : 0;
    *end = e < next_rows ? e : next_rows;
}

/* The value of `row`: its code's codebook entry, or its own entry where the order is not coded. */
static inline double value_of(const double *table, const uint64_t *words, const int64_t *lay, int offset_column, int width_column,
                              int64_t row)
{
    if (lay[CODED] == 0)
        return table[row];
    return table[read_bits(words, row * lay[RECORD] + lay[offset_column], lay[width_column])];
}

/* P of every token of every line of a piece of n tokens into `out`.  Per order k (index k-1): records[k-1],
 * layout[(k-1) * LAYOUT_COLUMNS ...], pointers[k-1], probs[k-1], backoffs[k-1] (the highest order's pointers and
 * backoffs are not read).  Scratch: rows (order x stride; its first line holds each token's depth), spans
 * (2 x 2 x stride), found (2 x order x stride). */
void lm_compact_score(const int32_t *ids, const int64_t *bounds, int64_t n_lines, int64_t n, int64_t depth0, int64_t bos_id,
                      int64_t order, const uint64_t *const *records, const int64_t *layout, const int64_t *const *pointers,
                      const double *const *probs, const double *const *backoffs, int64_t low_mode, double gamma_unseen,
                      double uniform, const uint8_t *mask, int64_t *rows, int64_t *spans, double *found, int64_t stride, double *out)
{
    int64_t lo[GROUP], hi[GROUP], lo_v[GROUP], hi_v[GROUP], code[GROUP]; /* the state of GROUP searches */
    int64_t *depths = rows;
#define ROW(k, t) rows[(k) * stride + (t)]
#define SPAN(s, which, t) spans[((s) * 2 + (which)) * stride + (t)]
#define FOUND(which, k, t) found[((which) * order + (k)) * stride + (t)]
    for (int64_t line = 0; line < n_lines; line++) {
        int64_t base = bounds[line] - (line == 0 ? depth0 : 0) - 1;
        for (int64_t t = bounds[line]; t < bounds[line + 1]; t++)
            depths[t] = t - base;
    }
    for (int64_t k = 2; k <= order; k++) {
        const uint64_t *ctx_words = records[k - 2], *words = records[k - 1];
        const int64_t *ctx_lay = layout + (k - 2) * LAYOUT_COLUMNS, *lay = layout + (k - 1) * LAYOUT_COLUMNS;
        const int64_t *ctx_base = pointers[k - 2], *next_base = pointers[k - 1];
        int64_t rows_k = lay[ROWS], next_rows = k < order ? layout[k * LAYOUT_COLUMNS + ROWS] : 0;
        int64_t record = lay[RECORD], offset = lay[WORD_OFF], width = lay[WORD_W];
        int64_t ctx_s = k % 2, own_s = (k + 1) % 2; /* ranges of the rows found at k-1 / found now */
        for (int64_t block = 0; block < n; block += GROUP) {
            int64_t stop = block + GROUP < n ? block + GROUP : n;
            for (int64_t t = block; t < stop; t++) {
                int64_t j = t - block, depth = depths[t];
                int64_t begin = 0, end = 0;
                if (depth >= k - 1 && (depth == 1 || t > 0)) {
                    if (depth == 1 || k == 2) {
                        int64_t h = depth == 1 ? bos_id : (int64_t)ids[t - 1];
                        children(ctx_words, ctx_lay, ctx_base, h, rows_k, &begin, &end);
                    } else {
                        begin = SPAN(ctx_s, 0, t - 1);
                        end = SPAN(ctx_s, 1, t - 1);
                    }
                }
                lo[j] = begin - 1;
                hi[j] = end;
                lo_v[j] = -1;
                hi_v[j] = (int64_t)1 << width;
                code[j] = word_code((int64_t)ids[t], width);
                ROW(k - 1, t) = -1;
            }
            int active = 1;
            while (active) { /* interpolation search, one probe of every unfinished search per round */
                active = 0;
                for (int64_t j = 0; j < stop - block; j++) {
                    if (hi[j] - lo[j] > 1) {
                        int64_t x = code[j];
                        /* lo_v < x < hi_v, so the pivot lies strictly between lo and hi; a product past int64 (only
                         * in a damaged layout's widths) is taken in 128 bits, where numba's would wrap */
                        int64_t num = x - lo_v[j] - 1, span = hi[j] - lo[j] - 1, den = hi_v[j] - lo_v[j] - 1, prod;
                        int64_t step = __builtin_mul_overflow(num, span, &prod) ? (int64_t)((__int128)num * span / den) : prod / den;
                        int64_t pivot = lo[j] + 1 + step;
                        int64_t v = read_bits(words, pivot * record + offset, width);
                        if (v < x) {
                            lo[j] = pivot;
                            lo_v[j] = v;
                        } else if (v > x) {
                            hi[j] = pivot;
                            hi_v[j] = v;
                        } else {
                            ROW(k - 1, block + j) = pivot;
                            hi[j] = lo[j];
                        }
                        active |= hi[j] - lo[j] > 1;
                    }
                }
            }
            for (int64_t t = block; t < stop; t++) { /* a row found gives its values and its children while its record is in cache */
                int64_t g = ROW(k - 1, t);
                if (g >= 0) {
                    FOUND(0, k - 1, t) = value_of(probs[k - 1], words, lay, PROB_OFF, PROB_W, g);
                    if (k < order)
                        FOUND(1, k - 1, t) = value_of(backoffs[k - 1], words, lay, BACK_OFF, BACK_W, g);
                }
                if (k < order)
                    children(words, lay, next_base, g, next_rows, &SPAN(own_s, 0, t), &SPAN(own_s, 1, t));
            }
        }
    }
    for (int64_t line = 0; line < n_lines; line++) {
        int64_t start = bounds[line];
        int64_t base = start - (line == 0 ? depth0 : 0) - 1;
        for (int64_t t = start; t < bounds[line + 1]; t++) {
            int64_t w = ids[t];
            int64_t depth = t - base;
            double p1 = probs[0][w];
            double p = p1;
            for (int64_t k = 2; k <= order; k++) {
                if (depth < k - 1)
                    break;
                if (ROW(k - 1, t) >= 0) {
                    p = FOUND(0, k - 1, t);
                } else {
                    double gamma;
                    if (depth == 1 || (k == 2 && t > 0)) /* the context is a unigram: <s> or the word before */
                        gamma = backoffs[0][depth == 1 ? bos_id : (int64_t)ids[t - 1]];
                    else if (t > 0 && ROW(k - 2, t - 1) >= 0)
                        gamma = FOUND(1, k - 2, t - 1);
                    else
                        gamma = gamma_unseen;
                    double low = low_mode == 0 ? p : (low_mode == 1 ? p1 : uniform);
                    p = gamma * low;
                }
            }
            out[t] = mask[w] ? p : 0.0;
        }
    }
#undef ROW
#undef SPAN
#undef FOUND
}
