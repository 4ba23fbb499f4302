export * from './codes';
export * from './frames';
export * from './names';
export * from './requests';
export * from './credentials';
export * from './text';
