// Debian's doctest-dev installs <doctest/doctest.h>; the wrapdb fallback
// exposes <doctest.h>. Tests include this and work with either.
#pragma once

#if __has_include(<doctest/doctest.h>)
#include <doctest/doctest.h>
#else
#include <doctest.h>
#endif
