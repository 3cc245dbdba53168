// implemented by the common/ owner
