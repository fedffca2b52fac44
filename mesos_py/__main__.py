from mesos_py.agent import main

main()
