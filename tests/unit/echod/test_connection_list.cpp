#include "doctest_include.h"

#include "echod/connection_list.h"

#include <vector>

using echod::ConnectionList;

namespace {

// What a connection is to the list: something that derives from a Node.
struct Entry : ConnectionList::Node {
    explicit Entry(int id) : id(id) {}
    int id;
};

int id_of(const ConnectionList::Node& node) {
    return static_cast<const Entry&>(node).id;
}

std::vector<int> order(ConnectionList& list) {
    std::vector<int> ids;
    list.for_each([&](ConnectionList::Node& node) { ids.push_back(id_of(node)); });
    return ids;
}

// The ids the sweep reports idle at now_ms; none of them is touched.
std::vector<int> idle_at(ConnectionList& list, std::uint64_t now_ms) {
    std::vector<int> ids;
    list.sweep(now_ms, [&](ConnectionList::Node& node, std::uint64_t) {
        ids.push_back(id_of(node));
        return false;
    });
    return ids;
}

}  // namespace

TEST_CASE("linking puts each entry at the front; unlinking takes it out anywhere") {
    ConnectionList list;
    Entry a(1), b(2), c(3);
    CHECK(list.empty());
    list.link(&a, 0);
    list.link(&b, 0);
    list.link(&c, 0);
    CHECK(list.size() == 3);
    CHECK(order(list) == std::vector<int>{3, 2, 1});
    CHECK(list.newest() == &c);
    CHECK(list.oldest() == &a);

    SUBCASE("the middle") {
        list.unlink(&b);
        CHECK(order(list) == std::vector<int>{3, 1});
    }
    SUBCASE("the front") {
        list.unlink(&c);
        CHECK(order(list) == std::vector<int>{2, 1});
        CHECK(list.newest() == &b);
    }
    SUBCASE("the back") {
        list.unlink(&a);
        CHECK(order(list) == std::vector<int>{3, 2});
        CHECK(list.oldest() == &b);
    }
    SUBCASE("all of them") {
        list.unlink(&a);
        list.unlink(&c);
        list.unlink(&b);
        CHECK(list.empty());
        CHECK(list.newest() == nullptr);
        CHECK(list.oldest() == nullptr);
    }
}

TEST_CASE("for_each may unlink the entry it is given") {
    ConnectionList list;
    Entry a(1), b(2), c(3);
    list.link(&a, 0);
    list.link(&b, 0);
    list.link(&c, 0);
    std::vector<int> seen;
    list.for_each([&](ConnectionList::Node& node) {
        seen.push_back(id_of(node));
        list.unlink(&node);
    });
    CHECK(seen == std::vector<int>{3, 2, 1});
    CHECK(list.empty());
}

TEST_CASE("without an idle timeout, touch keeps the order and the sweep finds nothing") {
    ConnectionList list;
    Entry a(1), b(2);
    list.link(&a, 0);
    list.link(&b, 0);
    CHECK_FALSE(list.tracks_activity());
    list.touch(&a, 500);
    CHECK(order(list) == std::vector<int>{2, 1});
    CHECK(a.last_active_ms() == 0);
    CHECK(idle_at(list, 1000000).empty());
}

TEST_CASE("with an idle timeout, touch moves an entry to the front") {
    ConnectionList list(100);
    Entry a(1), b(2), c(3);
    list.link(&a, 0);
    list.link(&b, 10);
    list.link(&c, 20);
    list.touch(&a, 30);
    CHECK(order(list) == std::vector<int>{1, 3, 2});
    CHECK(a.last_active_ms() == 30);
    list.touch(&a, 40);  // already at the front
    CHECK(order(list) == std::vector<int>{1, 3, 2});
    CHECK(a.last_active_ms() == 40);
    list.touch(&b, 50);
    CHECK(order(list) == std::vector<int>{2, 1, 3});
    CHECK(list.oldest() == &c);
}

TEST_CASE("the sweep reports the entries idle at a time, oldest first") {
    ConnectionList list(100);
    Entry a(1), b(2), c(3);
    list.link(&a, 0);
    list.link(&b, 50);
    list.link(&c, 80);

    CHECK(idle_at(list, 99).empty());
    CHECK(idle_at(list, 100) == std::vector<int>{1});  // exactly the timeout is idle
    CHECK(idle_at(list, 179) == std::vector<int>{1, 2});
    CHECK(idle_at(list, 1000) == std::vector<int>{1, 2, 3});

    SUBCASE("it tells how long each was idle") {
        std::vector<std::uint64_t> idle;
        list.sweep(150, [&](ConnectionList::Node&, std::uint64_t ms) {
            idle.push_back(ms);
            return false;
        });
        CHECK(idle == std::vector<std::uint64_t>{150, 100});
    }
    SUBCASE("a touched entry is no longer idle") {
        list.touch(&a, 90);
        CHECK(idle_at(list, 179) == std::vector<int>{2});
    }
    SUBCASE("an entry found active after all is touched, and the sweep goes on") {
        std::vector<int> seen;
        list.sweep(200, [&](ConnectionList::Node& node, std::uint64_t) {
            seen.push_back(id_of(node));
            return id_of(node) == 1;
        });
        CHECK(seen == std::vector<int>{1, 2, 3});
        CHECK(order(list) == std::vector<int>{1, 3, 2});
        CHECK(a.last_active_ms() == 200);
        CHECK(idle_at(list, 250) == std::vector<int>{2, 3});
    }
    SUBCASE("the callback may unlink the entry it is given") {
        list.sweep(179, [&](ConnectionList::Node& node, std::uint64_t) {
            list.unlink(&node);
            return false;
        });
        CHECK(order(list) == std::vector<int>{3});
    }
}

TEST_CASE("an idle timeout turned on while connections are open counts from then") {
    ConnectionList list;  // no timeout: no activity kept
    Entry a(1);
    Entry b(2);
    list.link(&a, 0);
    list.link(&b, 500);
    list.set_idle_timeout(100, 10000);
    CHECK(idle_at(list, 10050).empty());
    CHECK(idle_at(list, 10100) == std::vector<int>{1, 2});
    // Changed, not turned on: the activity kept so far stands.
    list.touch(&a, 10200);
    list.set_idle_timeout(50, 20000);
    CHECK(idle_at(list, 10240) == std::vector<int>{2});
    list.unlink(&a);
    list.unlink(&b);
}
