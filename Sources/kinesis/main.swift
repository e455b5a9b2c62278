print("kinesis")
