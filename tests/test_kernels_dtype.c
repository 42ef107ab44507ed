#include "testutil.h"
#include "kernels/kernels.h"

static void test_geometry(void **state)
{
    (void)state;
    assert_string_equal(reel_dtype_name(REEL_DTYPE_Q4_K), "Q4_K");
    assert_int_equal(reel_dtype_block(REEL_DTYPE_Q8_0), 32);
    assert_int_equal(reel_dtype_block_bytes(REEL_DTYPE_Q8_0), 34);
    assert_int_equal(reel_dtype_row_bytes(REEL_DTYPE_Q6_K, 512), 420);
    assert_int_equal(reel_dtype_row_bytes(REEL_DTYPE_Q4_0, 33), 0); /* not whole blocks */
    assert_int_equal(reel_dtype_row_bytes(REEL_DTYPE_BF16, 3), 6);
    assert_null(reel_dtype_name(4)); /* removed Q4_2 */
    assert_null(reel_dtype_name(-1));
    assert_null(reel_dtype_name(1000));
    assert_int_equal(reel_dtype_block(1000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_geometry)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
