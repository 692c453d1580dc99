// The one way coordinator code includes Boost.Asio. Boost 1.74's awaitable.hpp under C++20 with
// g++ 12 needs <utility> first (std::exchange), see docs/platform.md.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <utility>
