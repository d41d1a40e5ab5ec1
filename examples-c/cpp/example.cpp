// example.cpp: promrw from C++ with include/promrw.hpp. Usage: example URL
#include <promrw.hpp>

#include <chrono>
#include <iostream>
#include <string>

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " URL\n";
        return 2;
    }
    try {
        auto sender = promrw::Sender::from_yaml(std::string("remote_write:\n  - url: ") + argv[1]);
        auto up = sender.series({{"__name__", "cpp_example_up"}, {"job", "cpp"}});
        auto now = std::chrono::system_clock::now().time_since_epoch();
        sender.append(up, std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), 1.0);
        sender.flush(std::chrono::seconds(10)); // throws unless everything was acknowledged
        std::cout << "samples_acked=" << sender.stats().samples_acked << "\n";
        sender.close(std::chrono::seconds(5)); // or let ~Sender close (10 s at most) and free
    } catch (const promrw::Error &e) {
        std::cerr << "promrw: " << e.what() << " (" << e.status_name() << ")\n";
        return 1;
    }
    return 0;
}
