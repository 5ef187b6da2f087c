from makini_cli.launch import run

if __name__ == "__main__":
    run()
