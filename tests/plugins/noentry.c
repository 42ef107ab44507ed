/* A shared object without the entry symbol: the host must refuse it. */
int reel_not_a_plugin(void);
int reel_not_a_plugin(void)
{
    return 42;
}
