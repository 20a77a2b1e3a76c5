return await SynapticMesh.Cli.SynapticMeshCli.RunAsync(args);
