# How the appliance serves ZTPServer (gunicorn reads this with -c).
#
# Threaded workers: a download (an EOS image is about 1 GB, and a switch takes
# it at whatever rate its link and flash allow) holds one thread, not a whole
# worker, so /bootstrap and the other switches are answered meanwhile. With the
# synchronous workers used before, two slow downloads stalled everyone and the
# 30 s worker timeout cut any download longer than that.
# vm-image/test-serving measures this; docs/benchmarks.md has the figures.
wsgi_app = "ztpserver.app:start_wsgiapp()"
bind = "0.0.0.0:8080"
worker_class = "gthread"
workers = 2
# Per worker: 64 concurrent requests across the two workers, well above the
# switches of one fabric fetching at once.
threads = 32
# A gthread worker's main loop heartbeats every second whatever its threads
# are doing, so this catches only a wedged worker, never a long download.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Load ZTPServer once in the arbiter: a broken config fails the unit at start
# rather than in each worker.
preload_app = True
accesslog = "-"
errorlog = "-"
# No runtime control socket: it would go to $HOME/.gunicorn, the read-only
# data root, and nothing on the appliance drives gunicorn at run time.
control_socket_disable = True
