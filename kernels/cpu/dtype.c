/* Tensor element types: names and block geometry (GGML/GGUF layouts). */
#include "kernels/kernels.h"

typedef struct {
    const char *name;
    int block, bytes;
} type_info;

static const type_info types[REEL_DTYPE_COUNT] = {
    [REEL_DTYPE_F32] = {"F32", 1, 4},         [REEL_DTYPE_F16] = {"F16", 1, 2},
    [REEL_DTYPE_Q4_0] = {"Q4_0", 32, 18},     [REEL_DTYPE_Q4_1] = {"Q4_1", 32, 20},
    [REEL_DTYPE_Q5_0] = {"Q5_0", 32, 22},     [REEL_DTYPE_Q5_1] = {"Q5_1", 32, 24},
    [REEL_DTYPE_Q8_0] = {"Q8_0", 32, 34},     [REEL_DTYPE_Q8_1] = {"Q8_1", 32, 36},
    [REEL_DTYPE_Q2_K] = {"Q2_K", 256, 84},    [REEL_DTYPE_Q3_K] = {"Q3_K", 256, 110},
    [REEL_DTYPE_Q4_K] = {"Q4_K", 256, 144},   [REEL_DTYPE_Q5_K] = {"Q5_K", 256, 176},
    [REEL_DTYPE_Q6_K] = {"Q6_K", 256, 210},   [REEL_DTYPE_Q8_K] = {"Q8_K", 256, 292},
    [REEL_DTYPE_IQ4_NL] = {"IQ4_NL", 32, 18}, [REEL_DTYPE_I8] = {"I8", 1, 1},
    [REEL_DTYPE_I16] = {"I16", 1, 2},         [REEL_DTYPE_I32] = {"I32", 1, 4},
    [REEL_DTYPE_I64] = {"I64", 1, 8},         [REEL_DTYPE_F64] = {"F64", 1, 8},
    [REEL_DTYPE_BF16] = {"BF16", 1, 2},
};

static const type_info *info(int type)
{
    if (type < 0 || type >= REEL_DTYPE_COUNT || !types[type].name) return 0;
    return &types[type];
}

const char *reel_dtype_name(int type)
{
    const type_info *t = info(type);
    return t ? t->name : 0;
}

int reel_dtype_block(int type)
{
    const type_info *t = info(type);
    return t ? t->block : 0;
}

int reel_dtype_block_bytes(int type)
{
    const type_info *t = info(type);
    return t ? t->bytes : 0;
}

size_t reel_dtype_row_bytes(int type, int64_t n)
{
    const type_info *t = info(type);
    if (!t || n < 0 || n % t->block) return 0;
    return (size_t)(n / t->block) * (size_t)t->bytes;
}
